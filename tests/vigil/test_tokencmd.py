"""``vigil token create|list|revoke`` end to end: a real store, a real server checking the tokens, the audit table."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.pg import throwaway_database
from tests.vigil_process import VigilProcess


def _token(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil.cli", "token", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def external_pg() -> Iterator[str]:
    with throwaway_database("vigil_tokencmd") as url:
        yield url


def test_cli_tokens_work_on_a_running_server_and_are_audited(tmp_path: Path, external_pg: str) -> None:
    store = ["--postgres-url", external_pg]
    created = _token("create", "--name", "ops", "--role", "viewer", *store)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("vgl_") and "shown only now" in created.stderr
    assert _token("create", "--name", "ops", "--role", "admin", *store).returncode == 2  # name taken

    vigil = VigilProcess(tmp_path / "v", env={"VIGIL_API_AUTH": "required", "VIGIL_POSTGRES_URL": external_pg,
                                              "VIGIL_HOST_METRICS": "off"}).start()
    try:
        url = f"{vigil.api}/api/services"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"authorization": f"Bearer {token}"}).status_code == 200
        listed = _token("list", *store)
        assert listed.returncode == 0 and " ops " in listed.stdout and "viewer" in listed.stdout
        assert token not in listed.stdout  # only a hint is shown
        revoked = _token("revoke", "ops", *store)
        assert revoked.returncode == 0, revoked.stderr
        assert httpx.get(url, headers={"authorization": f"Bearer {token}"}).status_code == 401
    finally:
        vigil.stop()
    assert _token("revoke", "ops", *store).returncode == 1
    with psycopg.connect(external_pg) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM vigil_audit ORDER BY id").fetchall()]
        stored = conn.execute("SELECT count(*) FROM vigil_api_tokens WHERE token_hash = %s", (token,)).fetchone()
    assert actions == ["token.create", "token.revoke"]
    assert stored == (0,)  # the secret itself is never stored


def test_cli_tokens_on_the_embedded_store(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    assert _token("create", "--name", "ci", "--role", "editor", *data).returncode == 0
    listed = _token("list", *data)
    assert "ci" in listed.stdout and "editor" in listed.stdout
    bad = _token("create", "--name", "x", "--role", "root", *data)
    assert bad.returncode == 2 and "--role" in bad.stderr
