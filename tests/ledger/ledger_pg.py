"""A throw-away PostgreSQL database per test on the shared server (import the fixture)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def _pg_admin_conn():  # type: ignore[no-untyped-def]
    import psycopg

    try:
        return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not answering on 127.0.0.1:5432 ({exc}); run `make services`")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database on the shared server (dropped afterwards), as a SQLAlchemy URL."""
    name = "switchman_t_" + secrets.token_hex(6)
    with _pg_admin_conn() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with _pg_admin_conn() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
