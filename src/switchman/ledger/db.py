"""Engines and migrations: the default SQLite file (WAL) in the data directory, or any SQLAlchemy URL."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from switchman.config.observe import LedgerConfig
from switchman.errors import ConfigError
from switchman.ledger.tables import VERSION_TABLE

log = logging.getLogger("switchman.ledger")

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "head"


def ledger_url(cfg: LedgerConfig) -> str:
    """The configured URL, or ``sqlite:///{data_dir}/ledger.db`` (the directory is created)."""
    if cfg.url is not None:
        url = cfg.url.get_secret_value()
        if url.startswith(("postgresql://", "postgres://")):
            # the driver we ship; plain postgresql:// would ask for psycopg2
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    data = Path(cfg.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(data / 'ledger.db').resolve()}"


def spool_dir(cfg: LedgerConfig) -> Path:
    return Path(cfg.spool_dir) if cfg.spool_dir else Path(cfg.data_dir) / "spool"


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


#: orjson for the JSON columns (chain, attempts): less CPU per row than the stdlib encoder.
_JSON: dict[str, Any] = {"json_serializer": _dumps, "json_deserializer": orjson.loads}


def make_engine(url: str, *, busy_timeout_s: float = 5.0) -> Engine:
    """An engine with sane settings per dialect (SQLite: WAL, NORMAL sync, busy timeout)."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": busy_timeout_s}, **_JSON)

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

            return engine
        connect_args: dict[str, Any] = {}
        if url.startswith("postgresql"):
            connect_args["connect_timeout"] = max(1, round(busy_timeout_s))
        return create_engine(url, pool_pre_ping=True, pool_size=2, connect_args=connect_args, **_JSON)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise ConfigError(f"ledger.url: cannot use this database URL ({type(exc).__name__})") from None


def alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = HEAD) -> None:
    """Apply migrations up to ``revision`` (idempotent; PostgreSQL serialises concurrent workers)."""
    from alembic import command

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7410952301)")
        command.upgrade(alembic_config(conn), revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return ctx.get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head
