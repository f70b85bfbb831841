"""storage.postgres.store.PostgresMetadataStore against the machine's PostgreSQL, in throwaway databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from storage.postgres.store import MIGRATIONS, PostgresMetadataStore

ADMIN_URL = os.environ.get("VIGIL_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
VERSIONS = [v for v, _, _ in MIGRATIONS]

DatabaseFactory = Callable[[], str]


@pytest.fixture
def new_database() -> Iterator[DatabaseFactory]:
    """Creates empty databases on demand (autocommit) and drops them afterwards."""
    created: list[str] = []

    def create() -> str:
        name = f"vigil_store_test_{uuid.uuid4().hex[:10]}"
        try:
            with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.OperationalError as exc:
            if os.environ.get("VIGIL_TEST_REQUIRE_EXTERNAL_PG") == "1":
                pytest.fail(f"PostgreSQL required but unreachable at {ADMIN_URL}: {exc}")
            pytest.skip(f"no PostgreSQL at {ADMIN_URL}")
        created.append(name)
        return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    yield create
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def store(new_database: DatabaseFactory) -> PostgresMetadataStore:
    return PostgresMetadataStore(new_database())


def _scalar(url: str, sql: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return row[0]


def test_migrate_twice_is_idempotent(store: PostgresMetadataStore) -> None:
    assert store.migrate("0.1.0") == VERSIONS
    assert store.migrate("0.1.0") == []
    assert _scalar(store.url, "SELECT count(*) FROM vigil_schema_migrations") == len(VERSIONS)
    assert _scalar(store.url, "SELECT count(*) FROM vigil_instance") == 1
    assert _scalar(store.url, "SELECT to_regclass('vigil_settings') IS NOT NULL") is True


def test_instance_id_is_stable(store: PostgresMetadataStore) -> None:
    store.migrate("0.1.0")
    first = store.instance_id()
    assert str(uuid.UUID(first)) == first
    store.migrate("0.2.0")  # a later start (even of a newer version) keeps the identity
    assert store.instance_id() == first
    assert PostgresMetadataStore(store.url).instance_id() == first
    assert _scalar(store.url, "SELECT version FROM vigil_instance") == "0.1.0"


def test_instance_ids_differ_between_databases(new_database: DatabaseFactory) -> None:
    a, b = PostgresMetadataStore(new_database()), PostgresMetadataStore(new_database())
    a.migrate("0.1.0")
    b.migrate("0.1.0")
    assert a.instance_id() != b.instance_id()


def test_concurrent_migrations_apply_once(store: PostgresMetadataStore) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: PostgresMetadataStore(store.url).migrate("0.1.0"), range(4)))
    assert sorted(results, key=len) == [[], [], [], VERSIONS]
    assert _scalar(store.url, "SELECT count(*) FROM vigil_instance") == 1


def test_advisory_lock_is_released(store: PostgresMetadataStore) -> None:
    store.migrate("0.1.0")
    with psycopg.connect(store.url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_try_advisory_lock(7341)").fetchone()
        assert row is not None and row[0] is True
        conn.execute("SELECT pg_advisory_unlock(7341)")


def test_ping(store: PostgresMetadataStore) -> None:
    store.ping()  # works before any migration


def test_ping_unreachable_raises() -> None:
    with pytest.raises(psycopg.OperationalError):
        PostgresMetadataStore("postgresql://postgres@127.0.0.1:1/postgres").ping()


def test_settings_repository_round_trips_json(store: PostgresMetadataStore) -> None:
    store.migrate("0.1.0")
    assert store.settings.get("ui") is None
    store.settings.put("ui", {"theme": "dark", "pins": [1, 2]})
    store.settings.put("ui", {"theme": "light"})
    assert PostgresMetadataStore(store.url).settings.get("ui") == {"theme": "light"}


def test_postgres_and_in_memory_stores_agree(store: PostgresMetadataStore) -> None:
    """The in-memory double answers the same calls as the real store the same way."""
    from contracts.metadata import InMemoryMetadataStore

    mem = InMemoryMetadataStore()
    for impl in (store, mem):
        assert impl.migrate("0.1.0") != [] and impl.migrate("0.1.0") == []
        assert impl.settings.get("k") is None
        impl.settings.put("k", [1, {"a": None, "b": 2.5}])
        impl.settings.put("k", {"replaced": True})
        impl.ping()
    assert store.settings.get("k") == mem.settings.get("k") == {"replaced": True}
    assert store.instance_id() and mem.instance_id()
