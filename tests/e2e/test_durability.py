"""Durability of acknowledged data across crashes (SIGKILL) and graceful stops (SIGTERM drain).

"Acknowledged = committed" (README): a request answered 200 / OK must survive anything that happens
to the server afterwards, and the server must answer every request it accepted before it exits on SIGTERM.
All tests run a real ``vigil serve`` subprocess and real OTLP clients; rows are counted in the embedded
chDB store after the server stopped (see ``robustness_helpers.stored_per_request``).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest

from tests.e2e.robustness_helpers import (
    SOAK,
    Ledger,
    Outcome,
    Workload,
    check_ledger,
    embedded_postgres_running,
    export_grpc,
    grpc_export_callable,
    health,
    log_tail,
    post_http,
    scratch_dir,
    stop_embedded_postgres,
    stored_per_request,
    wait_until,
)
from tests.vigil_process import VigilProcess

KILLS = 20 if SOAK else 6
KILL_SENDERS = 4
SPANS_PER_REQUEST = 200


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with scratch_dir("durability") as base:
        yield base / "vigil-data"
        stop_embedded_postgres(base / "vigil-data")


@dataclass
class Target:
    """The OTLP/HTTP base URL the senders use; replaced after every restart (new ports)."""

    url: str


def _retrying_sender(ledger: Ledger, workload: Workload, target: Target, stop: threading.Event) -> None:
    """Send fresh requests back to back; an unacknowledged request is resent until acknowledged.

    That is what an OTLP SDK does (it retries connection errors, 429 and 503); the backoff is capped at
    0.5 s instead of honouring Retry-After so the test does not idle while the server restarts.
    """
    with httpx.Client() as client:
        number = ledger.new_request()
        payload = workload.payload(number)
        backoff = 0.05
        while not stop.is_set():
            outcome = post_http(client, target.url, payload, timeout=30)
            ledger.record(number, outcome)
            if outcome.kind == "ack":
                number = ledger.new_request()
                payload = workload.payload(number)
                backoff = 0.05
            else:
                stop.wait(backoff)
                backoff = min(backoff * 2, 0.5)


def _wait_for_acks(ledger: Ledger, goal: int, when: str) -> None:
    wait_until(lambda: ledger.total_acks() >= goal, timeout=60, what=f"{goal} acknowledgements {when}")


def test_sigkill_never_loses_acknowledged_spans(data_dir: Path) -> None:
    seed = int(os.environ.get("VIGIL_TEST_SEED", time.time_ns() % 1_000_000))
    print(f"kill schedule seed: VIGIL_TEST_SEED={seed}")
    rnd = random.Random(seed)
    workload = Workload(resources=1, spans_per_resource=SPANS_PER_REQUEST)
    ledger = Ledger(workload.spans_per_request)
    server = VigilProcess(data_dir).start()
    target = Target(server.otlp_http)
    stop = threading.Event()
    senders = [threading.Thread(target=_retrying_sender, args=(ledger, workload, target, stop), daemon=True)
               for _ in range(KILL_SENDERS)]
    exit_code: int | None = None
    kill_points: list[int] = []
    try:
        for t in senders:
            t.start()
        for _ in range(KILLS):
            # a random point: after 1..12 more acknowledgements, plus up to 150 ms into the next batch
            _wait_for_acks(ledger, ledger.total_acks() + rnd.randint(1, 12), "before the next kill")
            time.sleep(rnd.uniform(0, 0.15))
            kill_points.append(ledger.total_acks())
            assert server.stop(signal.SIGKILL) == -signal.SIGKILL
            server = VigilProcess(data_dir).start()
            target.url = server.otlp_http
        _wait_for_acks(ledger, ledger.total_acks() + KILL_SENDERS, "after the last restart")
    finally:
        stop.set()
        for t in senders:
            t.join(60)
        exit_code = server.stop()
        stop_embedded_postgres(data_dir)
    assert exit_code == 0
    print(f"kills after {kill_points} acks; outcomes {ledger.counts()}")
    assert not ledger.problems, ledger.problems[:10]
    stored = stored_per_request(data_dir / "chdb")
    errors = check_ledger(ledger, stored)
    assert not errors, f"{len(errors)} problems, first: {errors[:10]}"
    resent = sum(1 for r in ledger.records.values() if r.sends > 1)
    duplicated = sum(1 for s in stored.values() if s.max_copies > 1)
    print(f"{len(ledger.acked_requests())} acknowledged requests all stored; {resent} resent, "
          f"{duplicated} stored twice")


def test_clean_stop_after_a_crash_stops_embedded_postgres(data_dir: Path) -> None:
    """After SIGKILL the daemonized embedded PostgreSQL survives (expected); the next ``vigil serve`` attaches
    to it and, when *it* is stopped cleanly, must stop it — otherwise every crash leaks a postmaster forever."""
    try:
        crashed = VigilProcess(data_dir).start()
        crashed.stop(signal.SIGKILL)
        assert embedded_postgres_running(data_dir) is not None, "embedded PostgreSQL should outlive SIGKILL"
        again = VigilProcess(data_dir).start()
        assert again.stop() == 0
        leftover = embedded_postgres_running(data_dir)
    finally:
        stop_embedded_postgres(data_dir)
    assert leftover is None, (
        f"postgres pid {leftover} still serves {data_dir / 'pg'} after a clean stop that followed a crash; "
        f".handle_pids.json = {(data_dir / 'pg' / '.handle_pids.json').read_text()}"
    )


# --------------------------------------------------------------------------- SIGTERM drain

IN_FLIGHT_HTTP = 4
IN_FLIGHT_GRPC = 4
BACKGROUND = 2  # one HTTP and one gRPC sender that keep sending across the SIGTERM
STOP_MARGIN_S = 5.0


def _is_server_answer(outcome: Outcome) -> bool:
    """200 / OK, or a retryable refusal the server made itself (503 + Retry-After, UNAVAILABLE + RetryInfo)."""
    if outcome.kind == "ack":
        return True
    return outcome.label in ("http 503", "grpc UNAVAILABLE") and outcome.retry_after is not None


@pytest.mark.parametrize(
    ("linger_ms", "shutdown_timeout_s"),
    [(20_000, 10.0), (60_000, 1.0)],
    ids=["drain-within-budget", "budget-shorter-than-linger"],
)
def test_sigterm_answers_every_in_flight_request(data_dir: Path, linger_ms: int,
                                                 shutdown_timeout_s: float) -> None:
    """The flattener lingers far longer than the test: at SIGTERM every acknowledged request is in the
    spool only; the stop stores what it can within its budget and the next start stores the rest."""
    env = {"VIGIL_FLATTEN_LINGER_MS": str(linger_ms), "VIGIL_SHUTDOWN_TIMEOUT_S": str(shutdown_timeout_s)}
    workload = Workload(resources=1, spans_per_resource=SPANS_PER_REQUEST)
    ledger = Ledger(workload.spans_per_request)
    server = VigilProcess(data_dir, env=env).start()
    in_flight: dict[int, Outcome] = {}
    barrier = threading.Barrier(IN_FLIGHT_HTTP + IN_FLIGHT_GRPC + 1)
    stop_background = threading.Event()

    def one_shot(protocol: str) -> None:
        number = ledger.new_request()
        payload = workload.payload(number)
        with httpx.Client() as client, grpc.insecure_channel(server.otlp_grpc) as channel:
            export = grpc_export_callable(channel)
            barrier.wait()
            if protocol == "http":
                outcome = post_http(client, server.otlp_http, payload, timeout=60)
            else:
                outcome = export_grpc(export, payload, timeout=60)
        ledger.record(number, outcome)
        in_flight[number] = outcome

    def background(protocol: str) -> None:
        with httpx.Client() as client, grpc.insecure_channel(server.otlp_grpc) as channel:
            export = grpc_export_callable(channel)
            while not stop_background.is_set():
                number = ledger.new_request()
                payload = workload.payload(number)
                if protocol == "http":
                    outcome = post_http(client, server.otlp_http, payload, timeout=60)
                else:
                    outcome = export_grpc(export, payload, timeout=60)
                ledger.record(number, outcome)
                if outcome.kind != "ack":
                    stop_background.wait(0.05)

    threads = [threading.Thread(target=one_shot, args=("http",), daemon=True) for _ in range(IN_FLIGHT_HTTP)]
    threads += [threading.Thread(target=one_shot, args=("grpc",), daemon=True) for _ in range(IN_FLIGHT_GRPC)]
    bg = [threading.Thread(target=background, args=(p,), daemon=True) for p in ("http", "grpc")]
    assert server.proc is not None
    try:
        for t in [*bg, *threads]:
            t.start()
        barrier.wait()
        # every one-shot request is acknowledged (durable in the spool) and not yet stored
        wait_until(lambda: len(in_flight) == IN_FLIGHT_HTTP + IN_FLIGHT_GRPC, timeout=30, interval=0.02,
                   what="answers to the one-shot requests")
        assert all(o.kind == "ack" for o in in_flight.values()), in_flight
        ingest = health(server).json()["components"]["ingest"]
        assert ingest["spool_backlog_bytes"] > 0 and ingest["rows"] == 0, ingest
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        exit_code = server.proc.wait(shutdown_timeout_s + STOP_MARGIN_S + 30)
        elapsed = time.monotonic() - started
        for t in threads:
            t.join(30)
    finally:
        stop_background.set()
        for t in bg:
            t.join(30)
        server.stop(signal.SIGKILL)
    print(f"exit {exit_code} after {elapsed:.2f}s; in flight: {sorted(o.label for o in in_flight.values())}; "
          f"all: {ledger.counts()}")
    assert exit_code == 0, log_tail(data_dir)
    assert elapsed <= shutdown_timeout_s + STOP_MARGIN_S, f"took {elapsed:.1f}s to exit"
    unanswered = {n: o for n, o in in_flight.items() if not _is_server_answer(o)}
    assert len(in_flight) == IN_FLIGHT_HTTP + IN_FLIGHT_GRPC
    assert not unanswered, f"in-flight requests without an answer after SIGTERM: {unanswered} (all: {in_flight})"
    assert not ledger.problems, ledger.problems[:10]

    again = VigilProcess(data_dir, env=env).start()
    try:
        for number, outcome in in_flight.items():
            if outcome.kind == "ack":
                trace = httpx.get(f"{again.api}/api/traces/{workload.trace_id(number)}", timeout=10)
                assert trace.status_code == 200, (number, trace.text[:300])
                assert len(trace.json()["spans"]) == 10
    finally:
        assert again.stop() == 0
        stop_embedded_postgres(data_dir)
    stored = stored_per_request(data_dir / "chdb")
    errors = check_ledger(ledger, stored)
    assert not errors, errors[:10]
    # a graceful stop answers whatever it commits: no request is stored whose client never heard back
    unanswered_but_stored = {n: ledger.records[n] for n in stored if not ledger.records[n].acks}
    assert not unanswered_but_stored, unanswered_but_stored
