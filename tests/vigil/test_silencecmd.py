"""``vigil silence add|list|expire`` on a real PostgreSQL store, seen by the alerting API of a running server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import psycopg

from tests.pg import throwaway_database
from tests.vigil_process import VigilProcess


def _silence(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil.cli", "silence", *args], capture_output=True, text=True,
                          timeout=120)


def test_silences_from_the_cli_reach_the_api_and_are_audited(tmp_path: Path) -> None:
    with throwaway_database("vigil_silencecmd") as url:
        store = ["--postgres-url", url]
        bad = _silence("add", "service_name=~", "--duration", "1h", *store)
        assert bad.returncode == 2 and "vigil silence:" in bad.stderr
        assert _silence("add", 'service_name!="x"', *store).returncode == 2  # selects everything
        assert _silence("add", 'service_name="x"', "--duration", "soon", *store).returncode == 2
        added = _silence("add", 'service_name="checkout"', '{severity=~"warn.*"}', "--duration", "2h",
                         "--comment", "deploy", *store)
        assert added.returncode == 0, added.stderr
        sid = added.stdout.strip()
        listed = _silence("list", *store)
        assert sid in listed.stdout and 'service_name="checkout",severity=~"warn.*"' in listed.stdout
        vigil = VigilProcess(tmp_path / "v", env={"VIGIL_POSTGRES_URL": url, "VIGIL_HOST_METRICS": "off"}).start()
        try:
            (s,) = httpx.get(f"{vigil.api}/api/silences", timeout=30).json()
            assert s["id"] == sid and s["status"]["state"] == "active" and s["comment"] == "deploy"
            assert s["matchers"][1] == {"name": "severity", "value": "warn.*", "isRegex": True, "isEqual": True}
        finally:
            vigil.stop()
        assert _silence("expire", sid, *store).returncode == 0
        assert sid not in _silence("list", *store).stdout and sid in _silence("list", "--all", *store).stdout
        assert _silence("expire", "nope", *store).returncode == 1
        with psycopg.connect(url) as conn:
            actions = [r[0] for r in conn.execute("SELECT action FROM vigil_audit ORDER BY id")]
        assert actions == ["silence.create", "silence.expire"]
