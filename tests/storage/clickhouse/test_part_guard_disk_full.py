"""The part guard against the real failure: embedded chDB on a tmpfs that fills up while it writes.

Runs ``tests.storage.clickhouse.disk_full_race`` in a subprocess (chDB opens one data path per process)
on a freshly mounted 160 MiB tmpfs. Without the guard, chDB commits empty inserted and merged parts
in a few rounds of this (reads then fail with "Cannot read all marks", and their rows are gone). With it
(merges stopped while watching, sinks holding below 16 MiB free), every read during the outage must be
answered in full, no merge may commit a damaged part, and exactly the stored spans must be in the store.
Rounds: 20 by default, 120 with ``VIGIL_SOAK=1``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.tmpfs import mounted_tmpfs

ROUNDS = 120 if os.environ.get("VIGIL_SOAK") == "1" else 20
ROOT = Path(__file__).resolve().parents[3]


def test_inserts_merges_and_reads_on_a_disk_that_keeps_filling_up(tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "small", "160m") as mount:
        run = subprocess.run([sys.executable, "-m", "tests.storage.clickhouse.disk_full_race", str(mount),
                              str(ROUNDS), "20261129", "--hold-below", str(16 << 20)], cwd=ROOT,
                             capture_output=True, text=True, timeout=60 + ROUNDS * 10)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    print(report)
    assert report["read_errors"] == [] and report["short_reads"] == []
    assert report["damaged_merges"] == 0
    assert report["spans_in_store"] == report["stored_spans"] > 0
    assert report["traces_in_lookup"] == report["traces"]
    assert report["still_damaged"] == [] and report["unrepaired"] == []
