"""Shared fixtures: real Vigil servers (embedded and external PostgreSQL), reused per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chdb_fixtures import ch, chdb_dsn, chdb_store  # noqa: F401  (one chDB per process, shared)
from tests.demo_fixture import DemoData, run_demo
from tests.pg import EXTERNAL_PG_ADMIN, drop_database, external_pg_database
from tests.vigil_process import VigilProcess, stop_leftover_servers

# 10 years: the official OTLP examples carry 2018 timestamps and must stay inside retention.
LONG_RETENTION = {f"VIGIL_RETENTION_{s}_DAYS": "3650" for s in ("TRACES", "LOGS", "METRICS")}


@pytest.fixture(autouse=True, scope="session")
def _no_leftover_servers() -> Iterator[None]:
    """A server a failed test did not stop is killed when the session ends, not left running."""
    yield
    stop_leftover_servers()


@pytest.fixture(scope="session", params=["embedded-pg", "external-pg"])
def vigil(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilProcess]:
    """A running ``vigil serve``; every test using it runs against embedded and external PostgreSQL."""
    env = dict(LONG_RETENTION)
    db_name = None
    if request.param == "external-pg":
        created = external_pg_database()
        if created is None:
            if os.environ.get("VIGIL_TEST_REQUIRE_EXTERNAL_PG") == "1":
                pytest.fail(f"external PostgreSQL required but unreachable at {EXTERNAL_PG_ADMIN}")
            pytest.skip("no external PostgreSQL reachable")
        env["VIGIL_POSTGRES_URL"], db_name = created
    proc = VigilProcess(tmp_path_factory.mktemp(request.param), env=env).start()
    yield proc
    proc.stop()
    if db_name:
        drop_database(db_name)


@pytest.fixture
def fresh_data_dir(tmp_path: Path) -> Path:
    return tmp_path / "vigil-data"


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoData]:
    """The demo shop, run once against its own real Vigil (see tests/demo_fixture.py)."""
    env = {**LONG_RETENTION, "VIGIL_HOST_METRICS_INTERVAL_S": "1s", "VIGIL_LINKS_INTERVAL_S": "1s"}
    data, server, db_name = run_demo(tmp_path_factory.mktemp("demo"), env)
    yield data
    data.vigil.stop()
    if server is not None:
        server.cleanup()
    if db_name:
        drop_database(db_name)
