"""Overload: far more OTLP traffic than the server can commit, from clients that never back off.

Admission control (``max_inflight_bytes`` before the spool, ``spool_max_bytes`` of spooled data not yet
stored) must turn the excess into cheap, retryable refusals —
HTTP 429 + ``Retry-After`` / gRPC ``RESOURCE_EXHAUSTED`` with a ``google.rpc.RetryInfo`` detail — while
the server stays up, its memory stays bounded, and every acknowledged span is stored exactly once per
acknowledgement (a refusal promises nothing was queued). A stock OpenTelemetry SDK exporter, which
honours ``Retry-After``, must get its data in once the pressure eases.

Sizing. ``max_inflight_bytes`` is 4 MiB (and ``max_request_bytes`` 4 MiB, which it must not be below):
a request here is ~315 KB (1000 spans), so 24 concurrent senders can hold ~7.5 MB in flight — with the
8 MiB a first guess might pick, admission control would never trigger at all and the test would only
measure throughput. At 4 MiB at most ~13 requests are admitted and the rest are refused continuously.
Acknowledged requests then wait in the spool for the flattener; ``spool_max_bytes`` (16 MiB, ~50
requests) bounds that backlog, so the senders, which outpace the flattener, are refused there too.

Memory bound. An idle server measures ~430 MiB RSS here (chDB engine, Python, gRPC) and 0.6–0.8 GiB
at full ingest; admitted payload is capped at 4 MiB, so everything above idle is chDB's insert/merge
working memory. The senders offer several GB over the run (every refusal is a full request body), so
if refused bodies were buffered or admission leaked, RSS would blow far past 1.5 GiB — the bound
leaves ~2x headroom over the observed peak while still catching unbounded growth.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.e2e.robustness_helpers import (
    MIB,
    SOAK,
    Ledger,
    RssSampler,
    Workload,
    check_ledger,
    export_grpc,
    grpc_export_callable,
    health,
    log_tail,
    post_http,
    scratch_dir,
    server_pid,
    stop_embedded_postgres,
    stored_per_request,
    wait_until,
)
from tests.vigil_process import VigilProcess

MAX_INFLIGHT = 4 * MIB
SPOOL_MAX = 16 * MIB
OVERLOAD_ENV = {"VIGIL_MAX_INFLIGHT_BYTES": str(MAX_INFLIGHT), "VIGIL_MAX_REQUEST_BYTES": str(MAX_INFLIGHT),
                "VIGIL_SPOOL_MAX_BYTES": str(SPOOL_MAX)}
DURATION_S = 60.0 if SOAK else 15.0
HTTP_SENDERS = 12
GRPC_SENDERS = 12
RSS_BOUND = 1536 * MIB
HEALTH_TIMEOUT_S = 5.0  # the query API shares the ingest event loop; it must still answer while ingest is refused
ALLOWED_ANSWERS = {"http 200", "http 429", "http 503", "grpc OK", "grpc RESOURCE_EXHAUSTED", "grpc UNAVAILABLE"}


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with scratch_dir("overload") as base:
        yield base / "vigil-data"
        stop_embedded_postgres(base / "vigil-data")


class Flood:
    """``HTTP_SENDERS`` + ``GRPC_SENDERS`` threads sending 1000-span requests back to back, no backoff.

    A refused request is resent at once; an acknowledged one is replaced by a fresh request. Half the HTTP
    senders gzip their bodies (as SDKs commonly do): their Content-Length understates the decompressed size
    the in-flight budget counts, so they are refused by the writer's own check rather than the early one.
    """

    def __init__(self, server: VigilProcess, ledger: Ledger, workload: Workload) -> None:
        self._server = server
        self._ledger = ledger
        self._workload = workload
        self.stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=("http-gzip" if i % 2 else "http",), daemon=True)
                         for i in range(HTTP_SENDERS)]
        self._threads += [threading.Thread(target=self._run, args=("grpc",), daemon=True)
                          for _ in range(GRPC_SENDERS)]

    def _run(self, protocol: str) -> None:
        with httpx.Client() as client, grpc.insecure_channel(self._server.otlp_grpc) as channel:
            export = grpc_export_callable(channel)
            encoding = "gzip" if protocol == "http-gzip" else None
            number, payload = self._next(encoding)
            while not self.stop.is_set():
                if protocol == "grpc":
                    outcome = export_grpc(export, payload, timeout=60)
                else:
                    outcome = post_http(client, self._server.otlp_http, payload, timeout=60, encoding=encoding)
                self._ledger.record(number, outcome)
                if outcome.kind == "ack":
                    number, payload = self._next(encoding)

    def _next(self, encoding: str | None) -> tuple[int, bytes]:
        number = self._ledger.new_request()
        payload = self._workload.payload(number)
        return number, gzip.compress(payload, compresslevel=1) if encoding == "gzip" else payload

    def __enter__(self) -> Flood:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(90)


def _refusals(ledger: Ledger) -> int:
    counts = ledger.counts()
    return counts.get("http 429", 0) + counts.get("grpc RESOURCE_EXHAUSTED", 0)


def test_overload_is_refused_cleanly_and_nothing_acknowledged_is_lost(data_dir: Path) -> None:
    workload = Workload(resources=5, spans_per_resource=200)
    ledger = Ledger(workload.spans_per_request)
    server = VigilProcess(data_dir, env=OVERLOAD_ENV).start()
    probes: list[tuple[int | str, float]] = []  # (status or error, seconds) of /api/health during the flood
    try:
        with RssSampler(server_pid(server), interval=0.2) as rss:
            idle_rss = rss.samples[0]
            started = time.monotonic()
            with Flood(server, ledger, workload):
                while time.monotonic() - started < DURATION_S:
                    t0 = time.monotonic()
                    try:
                        probes.append((health(server, timeout=HEALTH_TIMEOUT_S).status_code, time.monotonic() - t0))
                    except httpx.HTTPError as exc:
                        probes.append((type(exc).__name__, time.monotonic() - t0))
                    time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
            elapsed = time.monotonic() - started
        assert server.proc is not None and server.proc.poll() is None, f"server died:\n{log_tail(data_dir)}"
        after = health(server)
        assert after.status_code == 200, after.text
        assert after.json()["status"] == "ok", after.text
    finally:
        exit_code = server.stop()
    acked = ledger.acked_spans()
    print(f"health during the flood: {len(probes)} probes, slowest {max(t for _, t in probes):.2f}s, "
          f"answers {sorted({str(s) for s, _ in probes})}")
    print(f"{elapsed:.0f}s: outcomes {ledger.counts()}; {acked / elapsed:.0f} acknowledged spans/s; "
          f"RSS idle {idle_rss / MIB:.0f} MiB, peak {rss.peak / MIB:.0f} MiB over {len(rss.samples)} samples")
    assert exit_code == 0, log_tail(data_dir)
    counts = ledger.counts()
    assert counts.get("http 429") and counts.get("grpc RESOURCE_EXHAUSTED"), f"never overloaded on both: {counts}"
    assert acked > 0, f"nothing was acknowledged under overload: {ledger.counts()}"
    unexpected = set(ledger.outcomes) - ALLOWED_ANSWERS
    assert not unexpected, f"answers other than 200/429/503 (or gRPC equivalents): {ledger.counts()}"
    assert not ledger.problems, f"{len(ledger.problems)} protocol problems, first: {ledger.problems[:5]}"
    assert all(status == 200 for status, _ in probes), f"/api/health during the flood: {probes}"
    assert rss.peak < RSS_BOUND, f"server RSS peaked at {rss.peak / MIB:.0f} MiB (bound {RSS_BOUND / MIB:.0f})"
    errors = check_ledger(ledger, stored_per_request(data_dir / "chdb"))
    assert not errors, f"{len(errors)} problems, first: {errors[:10]}"


# --------------------------------------------------------------------------- a real SDK under overload

SDK_LOGGER = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
SDK_SERVICE = "overload-sdk"
SDK_SPANS = 230
SDK_BLOB = 17 * 1024  # one attribute per span: the export lands just under MAX_INFLIGHT


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def retries(self) -> list[float]:
        """Backoffs the exporter announced for its retries ("…, retrying in %.2fs.")."""
        return [float(r.args[-1]) for r in list(self.records)  # type: ignore[index, arg-type]
                if r.getMessage().startswith("Transient error") and r.args]


def _sdk_batch() -> tuple[list[ReadableSpan], str]:
    """One trace (a root and its children) whose OTLP encoding is ~3.9 MiB: with 4 MiB of in-flight budget
    it is only admitted when (next to) nothing else is in flight, so a saturated server refuses it."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": SDK_SERVICE}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("robustness")
    blob = "x" * SDK_BLOB
    with tracer.start_as_current_span("batch-root") as root:
        for i in range(SDK_SPANS - 1):
            with tracer.start_as_current_span(f"child-{i}", attributes={"blob": blob, "i": i}):
                pass
    provider.shutdown()
    spans = list(memory.get_finished_spans())
    size = encode_spans(spans).ByteSize()
    assert MAX_INFLIGHT - 300_000 < size <= MAX_INFLIGHT, f"SDK batch is {size} bytes"
    return spans, format(root.get_span_context().trace_id, "032x")


def test_sdk_exporter_honours_retry_after_and_gets_in(data_dir: Path) -> None:
    spans, trace_id = _sdk_batch()
    workload = Workload(resources=5, spans_per_resource=200)
    ledger = Ledger(workload.spans_per_request)
    records = _Records()
    logger = logging.getLogger(SDK_LOGGER)
    logger.addHandler(records)
    server = VigilProcess(data_dir, env=OVERLOAD_ENV).start()
    exporter = OTLPSpanExporter(endpoint=f"{server.otlp_http}/v1/traces", timeout=60)
    result: list[SpanExportResult] = []
    try:
        with Flood(server, ledger, workload) as flood:
            # saturated: the raw senders are being refused continuously before the SDK starts
            wait_until(lambda: _refusals(ledger) >= 50, timeout=30, what="50 refusals")
            sdk = threading.Thread(target=lambda: result.append(exporter.export(spans)), daemon=True)
            sdk.start()
            wait_until(lambda: len(records.retries()) >= 1, timeout=15,
                       what="the SDK exporter to be refused")
            assert not result, "the SDK export finished while the server was saturated"
            flood.stop.set()  # pressure off: the SDK's next attempt (after Retry-After) must get in
        sdk.join(60)
        assert result == [SpanExportResult.SUCCESS], [r.getMessage() for r in records.records]
        trace = httpx.get(f"{server.api}/api/traces/{trace_id}", timeout=30)
        assert trace.status_code == 200, trace.text[:300]
        assert len(trace.json()["spans"]) == SDK_SPANS
    finally:
        logger.removeHandler(records)
        exporter.shutdown()
        exit_code = server.stop()
    retries = records.retries()
    print(f"SDK retried {len(retries)}x with backoffs {retries}; raw senders: {ledger.counts()}")
    assert exit_code == 0
    # the server said Retry-After: 1 (2 x batch_max_delay, at least 1 s); the exporter's own backoff would
    # be jittered 2^n seconds, so exactly 1.00 shows it took the server's word
    assert retries and all(r == 1.0 for r in retries), retries
    assert not ledger.problems, ledger.problems[:5]
    errors = check_ledger(ledger, stored_per_request(data_dir / "chdb", skip_services=(SDK_SERVICE,)))
    assert not errors, errors[:10]
