"""Every rule the engine cites is cited by a test (issue 11): read from the files, nothing imported.

The engine names the rules it keeps as ``W<n>`` (the upstream weak points of runtime-contract §8)
and ``SPEC §<n>[.<m>]`` (sections of SPEC.md). Each such rule cited anywhere under ``lashdb/`` must
also be cited somewhere under ``tests/`` (fixtures excluded), in the docstring or comment of a test
that exercises it — so a rule the code claims to keep cannot lose its last test unnoticed.

Citation forms read: ``W6``, ranges ``W19–W23``; ``SPEC §5``, ``SPEC.md §3.5``, lists after one
``SPEC`` (``SPEC §4, §6``, ``SPEC §2/§3.5``, ``SPEC §4 and §6``) and ranges (``SPEC §2–§3``,
``SPEC §3.1–3.4``: every section in between). A bare ``§3.2`` is not a SPEC citation: other
documents (runtime contract, deployment stores) number their sections too.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PKG = ROOT / "lashdb"
TESTS = ROOT / "tests"
FIXTURES = TESTS / "fixtures"
SELF = Path(__file__).resolve()

_W = re.compile(r"\bW(\d{1,2})\b(?:\s*[–-]\s*W(\d{1,2})\b)?")
_SECTION = r"(\d+)(?:\.(\d+))?"
_SPEC = re.compile(r"\bSPEC(?:\.md)?\s+§" + _SECTION + r"((?:\s*(?:,|/|\band\b|[–-])\s*§?" + _SECTION + r")*)")
_NEXT = re.compile(r"\s*(,|/|\band\b|[–-])\s*(§?)" + _SECTION)


def _section(major: str, minor: str | None) -> str:
    return f"SPEC §{major}" + (f".{minor}" if minor else "")


def _range(lo: tuple[str, str | None], hi: tuple[str, str | None]) -> list[str]:
    """Every section from ``lo`` to ``hi``; endpoints only when the two are not of one level."""
    (lo_major, lo_minor), (hi_major, hi_minor) = lo, hi
    if lo_minor is None and hi_minor is None and int(lo_major) <= int(hi_major):
        return [_section(str(n), None) for n in range(int(lo_major), int(hi_major) + 1)]
    if lo_minor is not None and hi_minor is not None and lo_major == hi_major and int(lo_minor) <= int(hi_minor):
        return [_section(lo_major, str(n)) for n in range(int(lo_minor), int(hi_minor) + 1)]
    return [_section(*lo), _section(*hi)]


def citations(text: str) -> set[str]:
    """The W-rules and SPEC sections ``text`` cites, as ``W6`` / ``SPEC §3.2``."""
    found: set[str] = set()
    for m in _W.finditer(text):
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        found.update(f"W{n}" for n in range(lo, max(lo, hi) + 1))
    for m in _SPEC.finditer(text):
        prev = (m.group(1), m.group(2))
        found.add(_section(*prev))
        for sep, mark, major, minor in _NEXT.findall(m.group(3)):
            cur = (major, minor or None)
            if sep in "–-":
                found.update(_range(prev, cur))  # "§3.1–3.4" may drop the second "§"
            elif mark:
                found.add(_section(*cur))
            else:
                break  # "SPEC §5, 12 rows": a bare number after a list separator is not a section
            prev = cur
    return found


def _texts(root: Path, skip: Path | None = None):
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or (skip is not None and skip in path.parents):
            continue
        if path == SELF:
            continue  # this file names rules only to test the scanner: it covers none of them
        try:
            yield path, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # a binary file cites nothing


def cited_under(root: Path, skip: Path | None = None) -> dict[str, set[str]]:
    """Each citation found under ``root`` -> the files (relative to the repo) that make it."""
    where: dict[str, set[str]] = {}
    for path, text in _texts(root, skip):
        for rule in citations(text):
            where.setdefault(rule, set()).add(str(path.relative_to(ROOT)))
    return where


def test_the_scanner_reads_every_citation_form():
    assert citations("(W6) W7, W11; see W19–W23 and W2-W4") == {
        "W2", "W3", "W4", "W6", "W7", "W11", "W19", "W20", "W21", "W22", "W23"}
    assert citations("SPEC §4, §6; SPEC.md §3.5 and SPEC §2/§3.5 and the rest") == {
        "SPEC §2", "SPEC §3.5", "SPEC §4", "SPEC §6"}
    assert citations("SPEC §2–§3; SPEC §3.1–3.4") == {
        "SPEC §2", "SPEC §3", "SPEC §3.1", "SPEC §3.2", "SPEC §3.3", "SPEC §3.4"}
    assert citations("SPEC §3.4 and §4") == {"SPEC §3.4", "SPEC §4"}
    assert citations("SPEC §6, amended 2026-12") == {"SPEC §6"}
    assert citations("SPEC §5, runtime-contract §1 and §2.5; deployment-stores §3.2") == {"SPEC §5"}
    # Not citations: words and identifiers that merely contain the letters.
    assert citations("W6x SW6 W123 SPECS §3 the §3.2 of another document") == set()


def test_the_scanner_finds_known_citations_in_the_tree():
    code = cited_under(PKG)
    assert "lashdb/engine/session/queued_work.py" in code["W6"]
    assert "lashdb/engine/session/store_runtime.py" in code["W19"]
    assert "lashdb/engine/deployment/process_registry.py" in code["SPEC §3.2"]
    assert "lashdb/engine/deployment/process_registry.py" in code["SPEC §3.5"]  # "SPEC §2/§3.5"
    assert {"W2", "W7", "W9", "W15", "W17", "W20", "W22", "SPEC §2", "SPEC §3.3", "SPEC §7"} <= set(code)
    tests = cited_under(TESTS, FIXTURES)
    assert "tests/engine/session/test_queued_work.py" in tests["W6"]
    assert "tests/system/test_upstream_fixtures.py" in tests["W26"]
    assert all(not f.startswith("tests/fixtures/") for files in tests.values() for f in files)
    assert all("tests/system/test_citations.py" not in files for files in tests.values())


def test_every_rule_cited_by_the_engine_is_cited_by_a_test():
    code = cited_under(PKG)
    tested = set(cited_under(TESTS, FIXTURES))
    untested = {rule: sorted(files) for rule, files in code.items() if rule not in tested}
    assert untested == {}, f"cite each rule in the docstring of a test that exercises it: {untested}"
