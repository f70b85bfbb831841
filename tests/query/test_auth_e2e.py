"""API auth in a real ``vigil serve`` (VIGIL_API_AUTH=required) on external PostgreSQL: tokens made in its store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from contracts.access import Role
from storage.postgres.store import PostgresMetadataStore
from tests.pg import throwaway_database
from tests.vigil_process import VigilProcess, start_server


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VigilProcess, PostgresMetadataStore]]:
    with throwaway_database("vigil_auth_e2e") as url:
        proc = start_server(Path(tmp_path_factory.mktemp("auth")), {"VIGIL_API_AUTH": "required",
                                                                    "VIGIL_POSTGRES_URL": url,
                                                                    "VIGIL_HOST_METRICS": "off"})
        yield proc, PostgresMetadataStore(url)
        proc.stop()


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
