"""Columnar store outage: the disk under chDB fills up while clients keep sending, then frees up again.

The columnar store lives on a small tmpfs mounted by the test (``VIGIL_CLICKHOUSE_URL=chdb://<mount>/chdb``),
and so does the ingest spool in the first variant (in the second it is on the ordinary disk);
the data dir — embedded PostgreSQL and the server log — stays on the ordinary disk, so only the columnar
store is starved. While the filesystem is full every ingest request must be answered as *retryable*
(HTTP 503 + ``Retry-After`` / gRPC ``UNAVAILABLE`` with ``RetryInfo``), never 400 (a client would drop
its data), and the server must stay up. Once space is back, ingest must work again without a restart,
and everything acknowledged before, during and after the outage must be stored.

Mounting needs privileges: the test is skipped when ``mount`` is refused, and fails instead when
``VIGIL_TEST_REQUIRE_OUTAGE=1``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest

from tests.e2e.robustness_helpers import (
    Ledger,
    Outcome,
    Workload,
    check_ledger,
    export_grpc,
    grpc_export_callable,
    health,
    log_tail,
    post_http,
    scratch_dir,
    spool_drained,
    stop_embedded_postgres,
    stored_per_request,
    wait_until,
)
from tests.tmpfs import Filler, mounted_tmpfs
from tests.vigil_process import VigilProcess

TMPFS_SIZE = "512m"
OUTAGE_S = 4.0
PROBES = 5  # per protocol during the outage
BACKGROUND_PER_PROTOCOL = 2


@dataclass(frozen=True)
class OutageDirs:
    data_dir: Path  # embedded PostgreSQL + log, on the ordinary disk
    mount: Path  # the small tmpfs holding the columnar store


@pytest.fixture
def outage_dirs() -> Iterator[OutageDirs]:
    with scratch_dir("outage") as base, mounted_tmpfs(base / "columnar", TMPFS_SIZE) as mount:
        dirs = OutageDirs(base / "vigil-data", mount)
        try:
            yield dirs
        finally:
            stop_embedded_postgres(dirs.data_dir)


def _is_retryable_store_refusal(outcome: Outcome) -> bool:
    return outcome.label in ("http 503", "grpc UNAVAILABLE") and outcome.retry_after is not None


@pytest.mark.parametrize("spool_on_full_disk", [True, False], ids=["spool-on-the-full-disk", "spool-elsewhere"])
def test_full_disk_is_a_retryable_outage_and_ingest_recovers(outage_dirs: OutageDirs,
                                                             spool_on_full_disk: bool) -> None:
    """With the ingest spool on the full disk too, nothing can be made durable: every request is
    refused as retryable. With the spool on another disk, requests keep being acknowledged (durable in
    the spool) or refused as retryable once the spool is full, and are stored when the disk frees up."""
    chdb_path = outage_dirs.mount / "chdb"
    spool = (outage_dirs.mount if spool_on_full_disk else outage_dirs.data_dir.parent) / "spool"
    env = {"VIGIL_CLICKHOUSE_URL": f"chdb://{chdb_path}", "VIGIL_SPOOL_DIR": str(spool)}
    server = VigilProcess(outage_dirs.data_dir, env=env).start()
    workload = Workload(resources=2, spans_per_resource=100)
    ledger = Ledger(workload.spans_per_request)
    stop = threading.Event()

    def send(protocol: str, number: int, client: httpx.Client, export: grpc.UnaryUnaryMultiCallable) -> Outcome:
        payload = workload.payload(number)
        if protocol == "http":
            outcome = post_http(client, server.otlp_http, payload, timeout=60)
        else:
            outcome = export_grpc(export, payload, timeout=60)
        ledger.record(number, outcome)
        return outcome

    def background(protocol: str) -> None:
        """An SDK-like sender: resend until acknowledged (0.2 s apart instead of the 5 s Retry-After)."""
        with httpx.Client() as client, grpc.insecure_channel(server.otlp_grpc) as channel:
            export = grpc_export_callable(channel)
            number = ledger.new_request()
            while not stop.is_set():
                if send(protocol, number, client, export).kind == "ack":
                    number = ledger.new_request()
                else:
                    stop.wait(0.2)

    def probe(protocol: str, client: httpx.Client, export: grpc.UnaryUnaryMultiCallable) -> Outcome:
        return send(protocol, ledger.new_request(), client, export)

    senders = [threading.Thread(target=background, args=(p,), daemon=True)
               for p in ("http", "grpc") for _ in range(BACKGROUND_PER_PROTOCOL)]
    during: list[Outcome] = []
    recovered: dict[str, float] = {}
    health_during: object = None
    passed = False
    try:
        assert health(server).json()["components"]["columnar"]["backend"] == "chdb"
        for t in senders:
            t.start()
        wait_until(lambda: ledger.total_acks() >= 8, timeout=30, what="acknowledgements before the outage")
        # a trace stored before the outage (reads wait until what was acknowledged before them is stored)
        first_acked = min(ledger.acked_requests())
        stored_trace = f"{server.api}/api/traces/{workload.trace_id(first_acked)}"
        assert len(httpx.get(stored_trace, timeout=30).json()["spans"]) == 10

        with httpx.Client() as client, grpc.insecure_channel(server.otlp_grpc) as channel:
            export = grpc_export_callable(channel)
            with Filler(outage_dirs.mount / "filler") as filler:
                wait_until(filler.full.is_set, timeout=30, what="the filesystem to fill up")
                outage_started = time.monotonic()
                time.sleep(0.5)  # requests already inside a flush when the disk filled may still commit
                for _ in range(PROBES):
                    during.append(probe("http", client, export))
                    during.append(probe("grpc", client, export))
                # a server whose writes all fail must say so, so a load balancer stops sending to it; ingest
                # says so once a flush has failed (on a loaded machine that can take a few seconds)
                wait_until(lambda: health(server).json()["components"]["ingest"]["status"] == "error", timeout=30,
                           what="ingest health to report the failing writes")
                h = health(server)
                assert h.status_code == 503 and h.json()["status"] == "degraded", h.text[:300]
                assert h.json()["components"]["ingest"]["status"] == "error", h.text[:300]
                health_during = h.json()
                # reads keep working on a full disk, even when the store committed empty parts as the disk
                # filled (they are hidden from reads; a merged one is replaced by the parts it was made from)
                trace = httpx.get(stored_trace, timeout=30)
                assert trace.status_code == 200 and len(trace.json()["spans"]) == 10, \
                    f"{trace.text[:300]}\n{log_tail(outage_dirs.data_dir)}"
                assert server.proc is not None and server.proc.poll() is None, log_tail(outage_dirs.data_dir)
                time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - outage_started)))
            freed = time.monotonic()
            # the filler is gone: the very same server must accept data again (clients retry, no restart)
            for protocol in ("http", "grpc"):
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and protocol not in recovered:
                    if probe(protocol, client, export).kind == "ack":
                        recovered[protocol] = time.monotonic() - freed
                    else:
                        time.sleep(0.2)
        after_outage = ledger.total_acks()
        wait_until(lambda: ledger.total_acks() >= after_outage + 8, timeout=30,
                   what="acknowledgements after the outage")
        passed = True
    finally:
        stop.set()
        for t in senders:
            t.join(60)
        try:
            if passed:  # the backlog spooled during the outage is stored by the running server (a SIGTERM
                # would leave what does not fit in shutdown_timeout_s for the next start, not made here)
                wait_until(lambda: spool_drained(server), timeout=120, interval=0.2, what="the spool to drain")
        finally:
            exit_code = server.stop()
    print(f"during the outage: {[o.label for o in during]}; recovered after {recovered}; "
          f"all outcomes {ledger.counts()}; health during the outage: {health_during}")
    assert exit_code == 0, log_tail(outage_dirs.data_dir)
    wrong = [o for o in during if not (_is_retryable_store_refusal(o)
                                       or (not spool_on_full_disk and o.kind == "ack"))]
    assert not wrong, f"answers during the outage that are not 503/UNAVAILABLE with a retry delay: {wrong}"
    assert set(recovered) == {"http", "grpc"}, f"ingest did not recover without a restart: {recovered}\n" \
                                                f"{log_tail(outage_dirs.data_dir)}"
    assert not ledger.problems, ledger.problems[:10]
    assert not {label for label in ledger.outcomes if label.startswith("http 4") or "INVALID" in label}, \
        ledger.counts()
    with contextlib.suppress(FileNotFoundError):
        (outage_dirs.mount / "filler").unlink()
    errors = check_ledger(ledger, stored_per_request(chdb_path))
    assert not errors, errors[:10]
