"""What every shared read-only reader is: a store opened read-only, its schema facts, one statement runner.

Contract: a :class:`StoreReader` carries what the views report about the store it read (``path``
as shown to a person, ``schema_version`` and ``supported_version``, ``foreign``, the ``columns``
it found, ``damaged`` findings) and the :class:`~.dialect.Dialect` its statements are spelled in.
A backend supplies :meth:`~StoreReader._execute` (rows as tuples, driver errors typed) and
:meth:`~StoreReader.close`; the reader closes on leaving a ``with`` block.
"""

from __future__ import annotations

from typing import Any, Self

from .dialect import Dialect

__all__ = ["StoreReader"]


class StoreReader:
    """A store opened read-only: its schema facts and the backend's statement runner."""

    def __init__(self, dialect: Dialect, path: str, schema_version: int, supported_version: int,
                 foreign: bool, columns: Any, damaged: tuple[str, ...]) -> None:
        self.dialect = dialect
        self.path = path
        self.schema_version = schema_version
        self.supported_version = supported_version
        self.foreign = foreign
        self.columns = columns
        self.damaged = damaged

    def close(self) -> None:
        """Release what the backend opened."""
        raise NotImplementedError

    def _execute(self, sql: str, params: tuple) -> list[tuple]:
        """Every row of ``sql`` with ``params`` bound, as tuples (the backend's one statement runner)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
