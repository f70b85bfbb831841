"""API auth in a real ``vigil serve`` (VIGIL_API_AUTH=required) on external PostgreSQL: tokens made in its store."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from contracts.access import Role
from storage.postgres.store import PostgresMetadataStore
from tests.conftest import EXTERNAL_PG_ADMIN
from tests.vigil_process import VigilProcess, start_server


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VigilProcess, PostgresMetadataStore]]:
    name = f"vigil_auth_e2e_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(EXTERNAL_PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        if os.environ.get("VIGIL_TEST_REQUIRE_EXTERNAL_PG") == "1":
            raise
        pytest.skip("no external PostgreSQL")
    url = EXTERNAL_PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    proc = start_server(Path(tmp_path_factory.mktemp("auth")), {"VIGIL_API_AUTH": "required",
                                                                "VIGIL_POSTGRES_URL": url,
                                                                "VIGIL_HOST_METRICS": "off"})
    yield proc, PostgresMetadataStore(url)
    proc.stop()
    with psycopg.connect(EXTERNAL_PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_real_server_checks_tokens(secured: tuple[VigilProcess, PostgresMetadataStore]) -> None:
    proc, store = secured
    assert proc.log_path is not None and "no admin API token exists" in proc.log_path.read_text()
    assert httpx.get(f"{proc.api}/api/health").status_code == 200
    missing = httpx.get(f"{proc.api}/api/traces")
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    viewer = store.tokens.create("viewer-1", Role.VIEWER)
    ok = httpx.get(f"{proc.api}/api/traces", headers={"Authorization": f"Bearer {viewer.token}"})
    assert ok.status_code == 200, ok.text
    assert httpx.get(f"{proc.api}/index.html").status_code in (200, 404)  # the dashboard: open (never 401)
    assert httpx.get(f"{proc.api}/schema/openapi.json").status_code == 200
    store.tokens.revoke("viewer-1")
    assert httpx.get(f"{proc.api}/api/traces",
                     headers={"Authorization": f"Bearer {viewer.token}"}).status_code == 401
