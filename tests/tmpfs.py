"""Mount a small tmpfs for tests that need a filesystem to fill up (needs mount privileges).

``mounted_tmpfs(path, size)`` mounts, yields, and unmounts (lazily if still busy). When ``mount`` is
refused the test is skipped, or failed when ``VIGIL_TEST_REQUIRE_OUTAGE=1`` (CI sets it).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def mounted_tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       check=True, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        message = f"cannot mount a tmpfs: {getattr(exc, 'stderr', '') or exc}"
        if os.environ.get("VIGIL_TEST_REQUIRE_OUTAGE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield path
    finally:
        _unmount(path)


def _unmount(path: Path) -> None:
    for _ in range(50):
        if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
            return
        time.sleep(0.2)
    subprocess.run(["umount", "-l", str(path)], capture_output=True)
