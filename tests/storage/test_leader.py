"""The evaluator lease: exactly one holder among sessions on one PostgreSQL; a dead holder frees it."""

from __future__ import annotations

import subprocess
import sys
import time

from storage.postgres.leader import AdvisoryLease
from tests.pg import throwaway_database

HOLDER = """
import sys, time
from storage.postgres.leader import AdvisoryLease
lease = AdvisoryLease(sys.argv[1], 4242)
print("held" if lease.try_acquire() else "refused", flush=True)
time.sleep(600)
"""


def test_one_holder_and_hand_over_on_release() -> None:
    with throwaway_database() as url:
        a, b = AdvisoryLease(url, 4242), AdvisoryLease(url, 4242)
        assert a.try_acquire() and a.held()
        assert not b.try_acquire() and not b.held()
        assert a.try_acquire()  # holding already: still True
        a.release()
        assert not a.held()
        assert b.try_acquire() and b.held()
        assert not a.try_acquire()
        b.release()


def test_a_killed_holder_process_frees_the_lock() -> None:
    with throwaway_database() as url:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
            standby = AdvisoryLease(url, 4242)
            assert not standby.try_acquire()
            proc.kill()
            proc.wait(10)
            deadline = time.monotonic() + 10
            while not standby.try_acquire():  # the server drops the dead session's locks
                assert time.monotonic() < deadline, "lock not freed after the holder was killed"
                time.sleep(0.1)
            standby.release()
        finally:
            proc.kill()
