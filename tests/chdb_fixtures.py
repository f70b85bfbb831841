"""chDB fixtures for every test: ONE embedded chDB data directory per test process, migrated once per session.

chDB can open only a single data path per process, so every storage test shares ``chdb_dsn``; tests
keep their rows apart (storage and query tests alike) by writing unique service names and restore
any schema setting they change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from clickhouse_connect.driver.client import Client

from storage.clickhouse.client import connect
from storage.clickhouse.migrations import Retention, migrate

SESSION_RETENTION = Retention(30, 30, 90)


@dataclass(frozen=True)
class ChdbStore:
    dsn: str
    applied_first: list[int]  # what the session's first migrate() applied


@pytest.fixture(scope="session")
def chdb_store(tmp_path_factory: pytest.TempPathFactory) -> ChdbStore:
    dsn = f"chdb://{tmp_path_factory.mktemp('chdb')}"
    admin = connect(dsn)
    try:
        applied = migrate(admin, SESSION_RETENTION)
    finally:
        admin.close()
    return ChdbStore(dsn, applied)


@pytest.fixture(scope="session")
def chdb_dsn(chdb_store: ChdbStore) -> str:
    return chdb_store.dsn


@pytest.fixture(scope="session")
def ch(chdb_dsn: str) -> Iterator[Client]:
    """A handle for assertions, used from the test thread only."""
    client = connect(chdb_dsn)
    yield client
    client.close()
