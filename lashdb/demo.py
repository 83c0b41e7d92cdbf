"""Old home of the demo builder (issue 11 moved it to :mod:`lashdb.engine.ops.demo`).

``lashdb.demo`` IS that module (same object), so ``from lashdb.demo import build_demo`` and a
monkeypatch on ``lashdb.demo`` reach the real code.
"""

import sys

from lashdb.engine.ops import demo as _demo

sys.modules[__name__] = _demo
