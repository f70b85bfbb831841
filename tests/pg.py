"""Throwaway databases on the machine's PostgreSQL for tests (skipped when unreachable, unless required)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

EXTERNAL_PG_ADMIN = os.environ.get("VIGIL_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def external_pg_database(prefix: str = "vigil_test") -> tuple[str, str] | None:
    """Create a throwaway database; return (url, name), or None when the server is unreachable."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(EXTERNAL_PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error:
        return None
    return EXTERNAL_PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", name


def drop_database(name: str) -> None:
    with psycopg.connect(EXTERNAL_PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def throwaway_database(prefix: str = "vigil_test") -> Iterator[str]:
    """A new database's URL for the block, dropped after; skip (or fail when required) without a server."""
    created = external_pg_database(prefix)
    if created is None:
        if os.environ.get("VIGIL_TEST_REQUIRE_EXTERNAL_PG") == "1":
            pytest.fail(f"external PostgreSQL required but unreachable at {EXTERNAL_PG_ADMIN}")
        pytest.skip(f"no PostgreSQL at {EXTERNAL_PG_ADMIN}")
    url, name = created
    try:
        yield url
    finally:
        drop_database(name)
