"""The ledger's INSERT, compiled once per engine and executed with plain driver parameters.

Rows arrive as parameter tuples in :data:`~switchman.ledger.rows.COLUMNS` order (built by
:func:`~switchman.ledger.rows.to_values`) and are inserted with ``Connection.exec_driver_sql`` and the
statement SQLAlchemy compiled for the engine's dialect, so a batch skips SQLAlchemy's per-row parameter
processing; on SQLite many rows go into one statement (see :meth:`PreparedInsert.execute`).
Duplicate ids are skipped, which makes spool replays idempotent.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import Insert

from switchman.ledger.rows import BOOLS, COLUMNS, INTS, Flags
from switchman.ledger.tables import calls

__all__ = ["PreparedInsert", "insert_ignoring_duplicates"]


def insert_ignoring_duplicates(engine: Engine) -> Insert:
    """INSERT that skips ids already present (makes spool replays idempotent)."""
    name = engine.dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(calls).on_conflict_do_nothing(index_elements=["id"])
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(calls).on_conflict_do_nothing(index_elements=["id"])
    return insert(calls)


def bind_none_directly(driver: Any = sqlite3) -> None:
    """Let the sqlite3 driver bind ``None`` without its failing adapter lookup.

    CPython's sqlite3 (3.11) binds exact int/float/str directly; anything else, ``None`` included, goes
    through its adapter registry, and a miss there asks the ``PrepareProtocol`` type for ``__adapt__``,
    which raises and formats an ``AttributeError`` internally: ~0.5 µs per ``None`` parameter, a third of
    the ledger's instructions per row. An adapter that returns its argument (``{}.get`` returns ``None``
    for ``None``) binds exactly what the miss did: NULL. Process-wide, like every sqlite3 adapter, and
    never replaces an adapter someone else registered.
    """
    adapters = getattr(driver, "adapters", None)
    if adapters is None or not hasattr(driver, "PrepareProtocol"):
        return
    if (type(None), driver.PrepareProtocol) not in adapters:
        nothing: dict[None, None] = {}
        driver.register_adapter(type(None), nothing.get)


class PreparedInsert:
    """Parameter tuples (``COLUMNS`` order) → INSERTs in the driver's own parameter style."""

    def __init__(self, engine: Engine) -> None:
        compiled = insert_ignoring_duplicates(engine).compile(dialect=engine.dialect)
        self.sql = str(compiled)
        self.positional = bool(compiled.positional)
        order = tuple(compiled.positiontup or ()) if self.positional else COLUMNS
        if sorted(order) != sorted(COLUMNS):
            raise ValueError(f"the ledger INSERT's parameters do not match rows.COLUMNS: {order}")
        #: What booleans are bound as (see :func:`~switchman.ledger.rows.to_values`).
        self.flags: Flags = INTS if engine.dialect.name == "sqlite" else BOOLS
        #: Parameter tuple → what the driver takes (None: the tuple itself).
        self._adapt: Callable[[tuple[Any, ...]], Any] | None = None
        if not self.positional:
            self._adapt = lambda values: dict(zip(COLUMNS, values, strict=True))
        elif order != COLUMNS:
            self._adapt = itemgetter(*(COLUMNS.index(k) for k in order))
        #: (``INSERT ... VALUES``, one row's ``(?, ..., ?)``, the rest) for SQLite, else None.
        self._values: tuple[str, str, str] | None = None
        #: The driver's base exception (SQLite: raised as SQLAlchemy's by :meth:`execute`).
        self._driver_error: type[Exception] = Exception
        if engine.dialect.name == "sqlite" and self.positional and order == COLUMNS:
            driver: Any = engine.dialect.dbapi
            self._driver_error = driver.Error
            bind_none_directly(driver)
            head, sep, rest = self.sql.partition(" VALUES ")
            group, close, tail = rest.partition(")")
            self._values = (head + sep, group + close, tail)
        #: Rows per multi-row statement: powers of two up to 256, under SQLite's bound-parameter limit
        #: (999 before 3.32), largest first (a batch of 500 is 256 + 128 + 64 + 32 + 16 + 4 rows).
        version = getattr(engine.dialect.dbapi, "sqlite_version_info", (0, 0, 0))
        most = max(1, (32_000 if version >= (3, 32) else 999) // len(order))
        self._chunk_sizes = [n for n in (256, 128, 64, 32, 16, 8, 4, 2, 1) if n <= most]
        self._statements: dict[int, str] = {}
        if self._values is not None:
            head, group, tail = self._values
            self._statements = {n: head + ", ".join([group] * n) + tail for n in self._chunk_sizes}

    def execute(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self._values is None:
            adapt = self._adapt
            conn.exec_driver_sql(self.sql, [adapt(r) for r in rows] if adapt else list(rows))
            return
        # SQLite: many rows per statement. The driver releases the GIL around every step of a statement,
        # and with executemany every row is a step: on a gateway pinned to one core each release is a
        # thread switch with the event loop. One multi-row INSERT per chunk is one step.
        # Chunks of a few fixed sizes only: the driver caches one prepared statement per SQL text, and a
        # statement per batch size filled that cache with large statements (+100 MB of RSS over 400
        # batches of random sizes).
        # The chunks go to the driver's cursor inside the connection's transaction: exec_driver_sql adds
        # ~17 µs of CPU per statement. Driver errors are raised as SQLAlchemy's, like exec_driver_sql's.
        statements = self._statements
        cursor = conn.connection.cursor()
        statement = ""
        try:
            start = 0
            for size in self._chunk_sizes:
                while len(rows) - start >= size:
                    statement = statements[size]
                    cursor.execute(statement, tuple(chain.from_iterable(rows[start : start + size])))
                    start += size
        except self._driver_error as exc:
            raise DBAPIError.instance(statement, None, exc, self._driver_error) from exc
        finally:
            cursor.close()
