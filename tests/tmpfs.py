"""A small filesystem to fill up in tests.

``mounted_tmpfs(path, size)`` mounts a tmpfs (needs mount privileges), yields, and unmounts (lazily if
still busy). When ``mount`` is refused the test is skipped, or failed when
``VIGIL_TEST_REQUIRE_OUTAGE=1`` (CI sets it). ``Filler(path)`` takes every free byte of the
filesystem holding ``path`` and keeps it full until the ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import threading
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


class Filler:
    """Fills the filesystem of ``path`` (after ``delay`` seconds) until ENOSPC and keeps it full — grabs any
    space freed — until the ``with`` block ends; ``full`` is set once it first got ENOSPC."""

    def __init__(self, path: Path, delay: float = 0.0) -> None:
        self.path, self.delay = path, delay
        self.full = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="filler", daemon=True)

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return
        big, small = b"\0" * (1 << 20), b"\0" * 4096
        with open(self.path, "wb", buffering=0) as f:
            while not self._stop.is_set():
                try:
                    f.write(small if self.full.is_set() else big)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    self.full.set()
                    self._stop.wait(0.005)

    def __enter__(self) -> Filler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        self.path.unlink(missing_ok=True)
