"""Shared machinery for the robustness e2e tests (durability, overload, store outage).

* :class:`Workload` — OTLP trace requests whose span ids *name the request*: ``SpanId`` is
  ``<request number: 4 bytes><span index: 4 bytes>`` (big-endian), so after a run the stored rows can be
  checked per request with one GROUP BY instead of shipping millions of ids around. Every request is a
  copy of one realistic ``bench.workload.make_request`` template with fresh span/trace ids.
* :class:`Ledger` — what the clients know about each request: how often it was sent, how often the
  server acknowledged it (HTTP 200 / gRPC OK with ``rejected_spans == 0``), how often it was refused
  with a "nothing was queued" answer (429 / RESOURCE_EXHAUSTED) and how often the outcome is unknown
  (connection lost, timeout, 503 / UNAVAILABLE: the data may or may not have been committed).
* :func:`stored_per_request` — opens the embedded chDB store of a *stopped* server from a subprocess
  (chDB allows one data path per process) and returns rows per request; :func:`check_ledger` compares.
* HTTP / gRPC one-shot senders that classify the answer, and an RSS sampler for the server process.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import psutil
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from bench.workload import make_request
from tests.vigil_process import VigilProcess

PROTOBUF = "application/x-protobuf"
GRPC_TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
MIB = 1024 * 1024
SOAK = os.environ.get("VIGIL_SOAK") == "1"
REPO_ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- workload


class Workload:
    """Requests of ``resources × spans_per_resource`` spans; request ``n`` (1-based) has span ids ``n‖i``."""

    def __init__(self, resources: int, spans_per_resource: int, seed: int = 20261129) -> None:
        self.template = make_request(seed, resources, spans_per_resource)
        self.spans_per_request = resources * spans_per_resource
        self._salt = random.Random(seed).randbytes(8)

    def request(self, number: int) -> ExportTraceServiceRequest:
        if not 0 < number < 2**32:
            raise ValueError(f"request number {number} out of range")
        req = ExportTraceServiceRequest()
        req.CopyFrom(self.template)
        prefix = number.to_bytes(4, "big")
        index = 0
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                previous = b""
                for span in ss.spans:
                    index += 1
                    if index % 10 == 1:  # the template starts a new trace every 10 spans
                        trace_id = self._salt[:4] + prefix + index.to_bytes(4, "big") + self._salt[4:]
                    span.trace_id = trace_id
                    span.span_id = prefix + index.to_bytes(4, "big")
                    span.parent_span_id = previous if span.parent_span_id else b""
                    previous = span.span_id
        return req

    def payload(self, number: int) -> bytes:
        return self.request(number).SerializeToString()

    def trace_id(self, number: int, trace: int = 0) -> str:
        """Hex id of the ``trace``-th trace (10 spans each, 0-based) of request ``number``."""
        index = trace * 10 + 1
        return (self._salt[:4] + number.to_bytes(4, "big") + index.to_bytes(4, "big") + self._salt[4:]).hex()



# --------------------------------------------------------------------------- ledger


@dataclass
class RequestRecord:
    sends: int = 0
    acks: int = 0
    refused: int = 0  # answers that promise nothing was stored (429 / RESOURCE_EXHAUSTED)
    uncertain: int = 0  # answers (or their absence) after which the data may or may not be stored


@dataclass
class Ledger:
    spans_per_request: int
    records: dict[int, RequestRecord] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next: int = 1

    def new_request(self) -> int:
        with self._lock:
            n = self._next
            self._next += 1
            self.records[n] = RequestRecord()
            return n

    def record(self, number: int, outcome: Outcome) -> None:
        with self._lock:
            rec = self.records[number]
            rec.sends += 1
            self.outcomes[outcome.label] += 1
            if outcome.kind == "ack":
                rec.acks += 1
            elif outcome.kind == "refused":
                rec.refused += 1
            else:
                rec.uncertain += 1
            if outcome.problem:
                self.problems.append(f"request {number}: {outcome.problem}")

    def total_acks(self) -> int:
        with self._lock:
            return sum(r.acks for r in self.records.values())

    def counts(self) -> dict[str, int]:
        """A snapshot of how often each answer was seen (safe while senders run)."""
        with self._lock:
            return dict(self.outcomes)

    def acked_requests(self) -> list[int]:
        with self._lock:
            return [n for n, r in self.records.items() if r.acks]

    def acked_spans(self) -> int:
        with self._lock:
            return sum(r.acks for r in self.records.values()) * self.spans_per_request


@dataclass(frozen=True)
class StoredRequest:
    spans: int  # distinct span ids of the request present
    rows: int  # rows of the request in otel_traces
    min_copies: int  # fewest rows of one of its spans
    max_copies: int  # most rows of one of its spans


def check_ledger(ledger: Ledger, stored: dict[int, StoredRequest]) -> list[str]:
    """Every problem found comparing what clients were told with what is stored (empty = all good).

    * acknowledged → every span of the request is stored at least once per acknowledgement;
    * a span is stored at most once per send that was not refused (a 429 promises nothing was queued);
    * a request whose every answer was definitive (acknowledged or refused) is stored exactly
      ``acks`` times — no loss and no duplicates.
    """
    errors: list[str] = []
    n_spans = ledger.spans_per_request
    for number, rec in sorted(ledger.records.items()):
        got = stored.get(number, StoredRequest(0, 0, 0, 0))
        upper = rec.acks + rec.uncertain
        if rec.acks and (got.spans != n_spans or got.min_copies < rec.acks):
            errors.append(f"request {number} acknowledged {rec.acks}x but only {got.spans}/{n_spans} spans stored "
                          f"(min copies {got.min_copies}); {rec}")
        elif got.max_copies > upper:
            errors.append(f"request {number}: a span stored {got.max_copies}x but only {upper} sends could have "
                          f"stored it; {rec}")
        elif not rec.uncertain and got.rows != rec.acks * n_spans:
            errors.append(f"request {number}: {got.rows} rows stored, expected exactly {rec.acks * n_spans}; {rec}")
    strays = sorted(set(stored) - set(ledger.records))
    if strays:
        errors.append(f"rows for requests never sent: {strays[:10]}")
    return errors


# --------------------------------------------------------------------------- store inspection

_COUNT_SCRIPT = r"""
import json, sys
import clickhouse_connect
client = clickhouse_connect.get_client(interface="chdb", path=sys.argv[1])
rows = client.query(
    "SELECT substring(SpanId, 1, 8) AS req, count() AS spans, sum(c) AS rows, min(c) AS lo, max(c) AS hi "
    "FROM (SELECT SpanId, count() AS c FROM otel_traces WHERE ServiceName NOT IN {skip:Array(String)} "
    "GROUP BY SpanId) GROUP BY req",
    parameters={"skip": json.loads(sys.argv[2])},
).result_rows
json.dump([[str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4])] for r in rows], sys.stdout)
"""


def stored_per_request(chdb_path: Path, skip_services: tuple[str, ...] = (),
                       timeout: float = 120.0) -> dict[int, StoredRequest]:
    """Rows of ``otel_traces`` per request number, read from the embedded store at ``chdb_path``.

    The server must be stopped: a subprocess opens the store itself (one chDB data path per process).
    Spans of ``skip_services`` (data not made by :class:`Workload`) are left out.
    """
    cmd = [sys.executable, "-c", _COUNT_SCRIPT, str(chdb_path), json.dumps(list(skip_services))]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"counting rows failed ({done.returncode}):\n{done.stderr[-4000:]}")
    out: dict[int, StoredRequest] = {}
    for req, spans, rows, lo, hi in json.loads(done.stdout):
        out[int(req, 16)] = StoredRequest(spans, rows, lo, hi)
    return out


def stop_embedded_postgres(data_dir: Path, timeout: float = 15.0) -> None:
    """Stop the embedded PostgreSQL of ``data_dir`` if one is still running (fast shutdown by its pid).

    ``pg_ctl`` daemonizes the postmaster, so a SIGKILLed ``vigil serve`` leaves it behind.
    """
    pid_file = data_dir / "pg" / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int(pid_file.read_text().splitlines()[0])
        proc = psutil.Process(pid)
        if proc.name() == "postgres" and str(data_dir / "pg") in " ".join(proc.cmdline()):
            proc.send_signal(signal.SIGINT)
            with contextlib.suppress(psutil.TimeoutExpired):
                proc.wait(timeout)
            if proc.is_running():
                proc.kill()


def embedded_postgres_running(data_dir: Path) -> int | None:
    """Pid of a postgres postmaster serving ``<data_dir>/pg``, if any."""
    target = str(data_dir / "pg")
    for proc in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            cmdline = proc.info["cmdline"] or []
            if proc.info["name"] == "postgres" and "-D" in cmdline and target in cmdline:
                return int(proc.pid)
    return None


# --------------------------------------------------------------------------- senders


@dataclass(frozen=True)
class Outcome:
    kind: str  # "ack" | "refused" | "uncertain"
    label: str  # e.g. "http 200", "http 429", "grpc RESOURCE_EXHAUSTED", "error ConnectError"
    retry_after: float | None = None  # seconds the server asked the client to wait
    problem: str = ""  # protocol violation worth failing the test for


def post_http(client: httpx.Client, base_url: str, payload: bytes, timeout: float = 60.0,
              encoding: str | None = None) -> Outcome:
    """One OTLP/HTTP protobuf export; the answer classified (never raises for transport errors).

    ``encoding="gzip"`` means ``payload`` is already gzip-compressed and is sent with that Content-Encoding.
    """
    headers = {"Content-Type": PROTOBUF}
    if encoding:
        headers["Content-Encoding"] = encoding
    try:
        r = client.post(f"{base_url}/v1/traces", content=payload, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        return Outcome("uncertain", f"error {type(exc).__name__}")
    label = f"http {r.status_code}"
    if r.status_code == 200:
        resp = ExportTraceServiceResponse.FromString(r.content)
        if resp.partial_success.rejected_spans:
            return Outcome("uncertain", label, problem=f"partial success: {resp.partial_success}")
        return Outcome("ack", label)
    retry_after = _retry_after_header(r)
    problem = ""
    if r.status_code in (429, 503) and retry_after is None:
        problem = f"{r.status_code} without a valid Retry-After (headers {dict(r.headers)})"
    elif r.status_code not in (429, 503):
        problem = f"unexpected HTTP {r.status_code}: {r.content[:300]!r}"
    kind = "refused" if r.status_code == 429 else "uncertain"
    return Outcome(kind, label, retry_after, problem)


def _retry_after_header(r: httpx.Response) -> float | None:
    value = r.headers.get("retry-after")
    if value is None or not value.strip().isdigit():
        return None
    return float(value)


def grpc_export_callable(channel: grpc.Channel) -> grpc.UnaryUnaryMultiCallable:
    return channel.unary_unary(GRPC_TRACE_EXPORT, request_serializer=None, response_deserializer=None)


def export_grpc(export: grpc.UnaryUnaryMultiCallable, payload: bytes, timeout: float = 60.0) -> Outcome:
    """One OTLP/gRPC export of raw request bytes; the answer classified."""
    try:
        raw = export(payload, timeout=timeout)
    except grpc.RpcError as exc:
        code = exc.code()  # type: ignore[attr-defined]
        label = f"grpc {code.name}"
        retry_after = grpc_retry_delay(exc)
        problem = ""
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            if retry_after is None:  # none of these tests sends a too-large request
                problem = f"RESOURCE_EXHAUSTED without RetryInfo: {exc.details()}"  # type: ignore[attr-defined]
            return Outcome("refused" if retry_after is not None else "uncertain", label, retry_after, problem)
        if code == grpc.StatusCode.UNAVAILABLE:
            # without RetryInfo it is the client library reporting a lost or refused connection
            if retry_after is None:
                label += " (no RetryInfo)"
            return Outcome("uncertain", label, retry_after)
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return Outcome("uncertain", label)
        if code == grpc.StatusCode.CANCELLED:
            # grpcio's server cancels calls that arrive while it shuts down, before any handler saw them
            # (grpc/grpc#41785); OTLP lists CANCELLED as retryable. Whether such a request was stored is
            # checked by the callers (never stored without an acknowledgement after a graceful stop).
            return Outcome("uncertain", label)
        details = exc.details()  # type: ignore[attr-defined]
        return Outcome("uncertain", label, problem=f"unexpected gRPC {code.name}: {details}")
    resp = ExportTraceServiceResponse.FromString(raw)
    if resp.partial_success.rejected_spans:
        return Outcome("uncertain", "grpc OK", problem=f"partial success: {resp.partial_success}")
    return Outcome("ack", "grpc OK")


def grpc_retry_delay(exc: grpc.RpcError) -> float | None:
    """The ``google.rpc.RetryInfo`` delay from ``grpc-status-details-bin``, if the server sent one."""
    for key, value in exc.trailing_metadata() or ():  # type: ignore[attr-defined]
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            info = error_details_pb2.RetryInfo()
            if detail.Unpack(info):
                return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None


# --------------------------------------------------------------------------- process helpers


@contextlib.contextmanager
def scratch_dir(name: str) -> Iterator[Path]:
    """A fresh directory *outside* pytest's basetemp, removed afterwards (kept with VIGIL_TEST_KEEP_DATA=1).

    The embedded PostgreSQL runs as another user and needs every parent directory to be traversable;
    every pytest session that starts on the machine resets ``/tmp/pytest-of-<user>`` to mode 0700, which
    makes ``initdb`` fail with "Permission denied" in a concurrent session.
    """
    base = Path(tempfile.mkdtemp(prefix=f"vigil-{name}-"))
    try:
        yield base
    finally:
        if os.environ.get("VIGIL_TEST_KEEP_DATA") != "1":
            shutil.rmtree(base, ignore_errors=True)


def log_tail(data_dir: Path, chars: int = 3000) -> str:
    path = data_dir / "vigil.log"
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


class RssSampler:
    """Samples the resident set size of one process every ``interval`` seconds on a thread."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self._proc = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self.samples: list[int] = []
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.samples.append(self._proc.memory_info().rss)
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self.samples.append(self._proc.memory_info().rss)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)


def server_pid(server: VigilProcess) -> int:
    assert server.proc is not None, "server is not running"
    return server.proc.pid


def health(server: VigilProcess, timeout: float = 5.0) -> httpx.Response:
    return httpx.get(f"{server.api}/api/health", timeout=timeout)


def spool_drained(server: VigilProcess) -> bool:
    """Everything the server acknowledged is stored (its ingest spool is empty)."""
    ingest = health(server).json()["components"]["ingest"]
    return bool(ingest["spool_backlog_bytes"] == 0 and ingest["queued_requests"] == 0)


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05,
               what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")

