"""Ingest benchmark: sustained OTLP trace throughput of a real ``vigil serve`` process.

What it measures, in one run:

* **accepted spans/s over OTLP/HTTP and over OTLP/gRPC** — ``--senders`` client *processes* (spawned,
  so the client side is not limited by one GIL) each cycle through their own pre-serialized
  ``ExportTraceServiceRequest`` payloads (``bench.workload.make_request``, 1000 spans each) in a closed
  loop for ``--duration`` seconds per protocol. A span counts as accepted when the answer is
  HTTP 200 / gRPC OK, minus ``partial_success.rejected_spans``. HTTP 429/503 and gRPC
  UNAVAILABLE/RESOURCE_EXHAUSTED are counted as *refused*; the sender backs off briefly and retries
  the same payload. Anything else is an *error*.
* **stored spans/s** per protocol: an acknowledgement means the request is durable in Vigil's ingest
  spool, and storing it in the columnar store follows. After each phase the script polls
  ``/api/health`` until the spool backlog is empty and reports accepted spans / (phase + drain
  seconds) — the rate at which spans became queryable — next to the drain time.
* **p50/p99 ack latency** per protocol (send of the request to the complete answer, successful
  answers only).
* **peak RSS** of the server process including its children and the embedded PostgreSQL (which
  ``pg_ctl`` daemonizes out of the server's process tree; found through ``<data-dir>/pg/postmaster.pid``),
  sampled every 100 ms with psutil, and the server's CPU time per phase.
* **the upb decode-only ceiling**: ``ExportTraceServiceRequest.FromString`` over the same payloads in
  one process (spans/s), and accepted/ceiling for each protocol.
* **bytes per span on disk**: after the server stopped (SIGTERM), the script opens the embedded chDB
  store itself, runs ``OPTIMIZE TABLE otel_traces FINAL`` and divides ``sum(bytes_on_disk)`` of the
  active parts by the row count. The row count must be >= the acknowledged spans (exit status 1
  otherwise): an acknowledged span that is not stored is data loss.

Run from the repository root::

    python bench/ingest.py --duration 20 --senders 8
    python bench/ingest.py --duration 10 --data-dir /tmp/vigil-ingest --keep

Results are printed as a table and, last, as one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # `python bench/ingest.py` puts bench/ (not the root) on sys.path
    sys.path.insert(0, str(REPO_ROOT))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from bench.harness import (  # noqa: E402
    MIB,
    RssSampler,
    ServerPorts,
    ServerProcess,
    add_server_args,
    http_get,
    install_signal_handlers,
    measure_store,
    percentile,
    print_table,
    store_dsn,
    store_row_count,
    work_dir,
)
from bench.workload import make_request  # noqa: E402

OTLP_TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"
GRPC_EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
REFUSED_HTTP = (429, 503)
START_TIMEOUT = 600.0  # a sender gives up if the coordinator never says go


# --------------------------------------------------------------------------- small helpers


def _gen_payload(args: tuple[int, int, int]) -> tuple[bytes, int]:
    seed, resources, spans_per_resource = args
    req = make_request(seed, resources=resources, spans_per_resource=spans_per_resource)
    spans = sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
    return req.SerializeToString(), spans


def generate_payloads(senders: int, per_sender: int, resources: int, spans_per_resource: int,
                      processes: int | None = None, seed_base: int = 0) -> list[list[tuple[bytes, int]]]:
    """``per_sender`` distinct serialized requests (and their span counts) for each sender."""
    seeds = [(seed_base + i, resources, spans_per_resource) for i in range(senders * per_sender)]
    workers = max(1, min(processes or os.cpu_count() or 1, len(seeds)))
    if workers == 1:
        flat = [_gen_payload(s) for s in seeds]
    else:
        with mp.get_context("spawn").Pool(workers) as pool:
            flat = pool.map(_gen_payload, seeds, chunksize=8)
    return [flat[i * per_sender:(i + 1) * per_sender] for i in range(senders)]


def decode_ceiling(payloads: Sequence[tuple[bytes, int]], min_seconds: float = 2.0) -> dict[str, float]:
    """upb decode-only rate: ``ExportTraceServiceRequest.FromString`` over ``payloads``, one process."""
    parse = ExportTraceServiceRequest.FromString
    for body, _ in payloads[: min(8, len(payloads))]:  # warm-up
        parse(body)
    spans = requests = 0
    nbytes = 0
    t0 = time.perf_counter()
    while True:
        for body, n in payloads:
            parse(body)
            spans += n
            nbytes += len(body)
            requests += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            break
    return {"spans_per_s": spans / elapsed, "requests": requests, "seconds": elapsed,
            "mib_per_s": nbytes / elapsed / MIB}


# --------------------------------------------------------------------------- senders


@dataclass
class SenderResult:
    protocol: str
    sender: int
    requests_ok: int = 0
    spans_sent_ok: int = 0
    accepted_spans: int = 0
    rejected_spans: int = 0
    refused: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    t_start: float = 0.0
    t_end: float = 0.0

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(message[:300])


class _Backoff:
    def __init__(self, max_backoff: float) -> None:
        self.max = max_backoff
        self.delay = 0.01

    def wait(self, hint: float | None, deadline: float) -> None:
        delay = min(self.max, hint if hint is not None and hint > 0 else self.delay)
        self.delay = min(self.max, self.delay * 2)
        time.sleep(max(0.0, min(delay, deadline - time.monotonic())))

    def reset(self) -> None:
        self.delay = 0.01


def _rejected_from_http(body: bytes, content_type: str) -> int:
    if not body:
        return 0
    if content_type.split(";")[0].strip().lower() == "application/json":
        partial = json.loads(body).get("partialSuccess") or {}
        return int(partial.get("rejectedSpans", 0) or 0)
    return int(ExportTraceServiceResponse.FromString(body).partial_success.rejected_spans)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


SendFn = Callable[[Any], tuple[str, int, "float | None", str]]


def _run_loop(result: SenderResult, payloads: Sequence[tuple[Any, int]], deadline: float,
              max_spans: int | None, send_one: SendFn, max_backoff: float, first: int = 0) -> None:
    """Closed loop: send, wait for the answer, next payload; retry the same payload when refused.

    ``send_one`` returns (outcome, rejected_spans, retry_hint, message) with outcome one of
    ``ok`` / ``refused`` / ``error``.
    """
    backoff = _Backoff(max_backoff)
    i = first
    result.t_start = time.monotonic()
    while time.monotonic() < deadline and (max_spans is None or result.accepted_spans < max_spans):
        body, nspans = payloads[i % len(payloads)]
        t0 = time.perf_counter()
        outcome, rejected, hint, message = send_one(body)
        latency = time.perf_counter() - t0
        if outcome == "ok":
            result.requests_ok += 1
            result.spans_sent_ok += nspans
            result.rejected_spans += rejected
            result.accepted_spans += max(0, nspans - rejected)
            result.latencies.append(latency)
            backoff.reset()
            i += 1
        elif outcome == "refused":
            result.refused += 1
            backoff.wait(hint, deadline)
        else:
            result.error(message)
            backoff.wait(None, deadline)
            i += 1  # do not hammer the server with a payload it cannot take
    result.t_end = time.monotonic()


def _run_streams(result: SenderResult, payloads: Sequence[tuple[Any, int]], duration: float,
                 max_spans: int | None, send_fns: Sequence[SendFn], max_backoff: float) -> None:
    """One closed loop per ``send_fns`` entry (threads of this process), merged into ``result``."""
    deadline = time.monotonic() + duration
    n = len(send_fns)
    parts = [SenderResult(result.protocol, result.sender) for _ in range(n)]
    share = None if max_spans is None else -(-max_spans // n)
    threads = [
        threading.Thread(target=_run_loop, name=f"stream-{k}", daemon=True,
                         args=(parts[k], payloads, deadline, share, send_fns[k], max_backoff,
                               k * len(payloads) // n))
        for k in range(n)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for part in parts:
        for name in ("requests_ok", "spans_sent_ok", "accepted_spans", "rejected_spans", "refused", "errors"):
            setattr(result, name, getattr(result, name) + getattr(part, name))
        result.latencies.extend(part.latencies)
        result.error_samples.extend(part.error_samples[: max(0, 5 - len(result.error_samples))])
    result.t_start = min(p.t_start for p in parts)
    result.t_end = max(p.t_end for p in parts)


class _HttpStream:
    """``send_one`` for OTLP/HTTP: POST to ``/v1/traces`` over one keep-alive connection."""

    headers = {"Content-Type": PROTOBUF, "Connection": "keep-alive"}

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.conn: http.client.HTTPConnection | None = None

    def connect(self) -> None:
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        with contextlib.suppress(OSError):
            self.conn.connect()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def __call__(self, body: bytes) -> tuple[str, int, float | None, str]:
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.conn.request("POST", OTLP_TRACES_PATH, body=body, headers=self.headers)
            resp = self.conn.getresponse()
            data = resp.read()
            if resp.status == 200:
                return "ok", _rejected_from_http(data, resp.getheader("Content-Type", "")), None, ""
            if resp.will_close:
                self.close()
            hint = _retry_after(resp.getheader("Retry-After"))
            if resp.status in REFUSED_HTTP:
                return "refused", 0, hint, f"HTTP {resp.status}"
            return "error", 0, None, f"HTTP {resp.status}: {data[:200]!r}"
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return "error", 0, None, f"{type(exc).__name__}: {exc}"


def http_sender(sender: int, host: str, port: int, payloads: list[tuple[bytes, int]], duration: float,
                ready: Any, start: EventType, results: Any, max_spans: int | None = None,
                max_backoff: float = 0.5, concurrency: int = 1) -> None:
    """One client process: ``concurrency`` closed loops (one keep-alive connection each) POSTing
    pre-serialized requests to ``/v1/traces``."""
    result = SenderResult("http", sender)
    streams = [_HttpStream(host, port) for _ in range(concurrency)]
    try:
        for st in streams:
            st.connect()
        ready.put(sender)
        if not start.wait(START_TIMEOUT):
            raise RuntimeError("no start signal")
        _run_streams(result, payloads, duration, max_spans, streams, max_backoff)
    except Exception as exc:  # noqa: BLE001 - report instead of dying silently
        result.error(f"sender crashed: {exc!r}")
    finally:
        for st in streams:
            st.close()
        results.put(asdict(result))


def grpc_sender(sender: int, target: str, payloads: list[tuple[bytes, int]], duration: float,
                ready: Any, start: EventType, results: Any, mode: str = "stub",
                max_spans: int | None = None, max_backoff: float = 0.5, concurrency: int = 1) -> None:
    """One client process: ``concurrency`` closed loops of unary ``TraceService/Export`` calls on one
    channel.

    ``mode="stub"`` uses ``TraceServiceStub`` with decoded messages (the stub serializes each call, as
    an SDK exporter does); ``mode="bytes"`` sends the pre-serialized payloads on the same method.
    """
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    result = SenderResult("grpc", sender)
    refused_codes = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)
    options = [("grpc.max_send_message_length", 64 * MIB), ("grpc.max_receive_message_length", 64 * MIB),
               ("grpc.enable_retries", 0)]
    channel = grpc.insecure_channel(target, options=options)
    call: Callable[..., Any]
    items: list[tuple[Any, int]]
    if mode == "stub":
        call = trace_service_pb2_grpc.TraceServiceStub(channel).Export
        items = [(ExportTraceServiceRequest.FromString(b), n) for b, n in payloads]
    else:
        call = channel.unary_unary(GRPC_EXPORT_METHOD, request_serializer=None,
                                   response_deserializer=ExportTraceServiceResponse.FromString)
        items = list(payloads)

    def send_one(message: Any) -> tuple[str, int, float | None, str]:
        try:
            resp = call(message, timeout=60)
            return "ok", int(resp.partial_success.rejected_spans), None, ""
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            details = exc.details() if hasattr(exc, "details") else str(exc)
            # RESOURCE_EXHAUSTED without retry (request too large) is not a refusal but an error
            if code in refused_codes and "exceeds" not in (details or ""):
                return "refused", 0, None, f"{code}"
            return "error", 0, None, f"{code}: {details}"

    try:
        with contextlib.suppress(grpc.FutureTimeoutError):
            grpc.channel_ready_future(channel).result(timeout=10)
        ready.put(sender)
        if not start.wait(START_TIMEOUT):
            raise RuntimeError("no start signal")
        _run_streams(result, items, duration, max_spans, [send_one] * concurrency, max_backoff)
    except Exception as exc:  # noqa: BLE001
        result.error(f"sender crashed: {exc!r}")
    finally:
        channel.close()
        results.put(asdict(result))


@dataclass
class PhaseResult:
    protocol: str
    senders: int
    seconds: float
    accepted_spans: int
    rejected_spans: int
    requests_ok: int
    refused: int
    errors: int
    error_samples: list[str]
    spans_per_s: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    t_start: float
    t_end: float
    drain_s: float = 0.0

    @property
    def stored_spans_per_s(self) -> float:
        return self.accepted_spans / (self.seconds + self.drain_s) if self.seconds else 0.0


def wait_drained(api_port: int, host: str, timeout: float = 300.0) -> float:
    """Poll ``/api/health`` until nothing acknowledged is waiting to be stored; return the seconds."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        _, body = http_get(host, api_port, "/api/health")
        ingest = json.loads(body).get("components", {}).get("ingest", {})
        if ingest.get("spool_backlog_bytes") == 0 and ingest.get("queued_requests") == 0:
            return time.perf_counter() - started
        time.sleep(0.05)
    raise RuntimeError(f"the spool did not drain within {timeout:.0f}s")


def aggregate(protocol: str, results: Sequence[dict[str, Any]]) -> PhaseResult:
    lat = [x for r in results for x in r["latencies"]]
    starts = [r["t_start"] for r in results if r["t_start"]]
    ends = [r["t_end"] for r in results if r["t_end"]]
    t0, t1 = (min(starts), max(ends)) if starts and ends else (0.0, 0.0)
    seconds = max(t1 - t0, 1e-9)
    accepted = sum(r["accepted_spans"] for r in results)
    samples = [s for r in results for s in r["error_samples"]][:5]
    return PhaseResult(
        protocol=protocol, senders=len(results), seconds=seconds, accepted_spans=accepted,
        rejected_spans=sum(r["rejected_spans"] for r in results),
        requests_ok=sum(r["requests_ok"] for r in results), refused=sum(r["refused"] for r in results),
        errors=sum(r["errors"] for r in results), error_samples=samples,
        spans_per_s=accepted / seconds if t1 > t0 else 0.0,
        p50_ms=percentile(lat, 50) * 1000, p99_ms=percentile(lat, 99) * 1000,
        mean_ms=(sum(lat) / len(lat) * 1000) if lat else math.nan, t_start=t0, t_end=t1,
    )


def run_senders(protocol: str, ports: ServerPorts, per_sender: Sequence[list[tuple[bytes, int]]],
                duration: float, grpc_mode: str = "stub", max_spans_per_sender: int | None = None,
                max_backoff: float = 0.5, setup_timeout: float = 120.0,
                concurrency: int = 1) -> list[dict[str, Any]]:
    """Run one sender process per payload list against the server; return their raw results.

    All senders connect first, then start together; each stops issuing requests after ``duration``
    seconds (or once it has ``max_spans_per_sender`` accepted spans).
    """
    ctx = mp.get_context("spawn")
    ready, results, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs: list[mp.process.BaseProcess] = []
    for i, payloads in enumerate(per_sender):
        if protocol == "http":
            target: Callable[..., None] = http_sender
            args: tuple[Any, ...] = (i, ports.host, ports.http, payloads, duration, ready, start, results,
                                     max_spans_per_sender, max_backoff, concurrency)
        else:
            target = grpc_sender
            args = (i, f"{ports.host}:{ports.grpc}", payloads, duration, ready, start, results, grpc_mode,
                    max_spans_per_sender, max_backoff, concurrency)
        proc = ctx.Process(target=target, args=args, name=f"{protocol}-sender-{i}", daemon=True)
        proc.start()
        procs.append(proc)
    out: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + setup_timeout
        for _ in procs:
            ready.get(timeout=max(1.0, deadline - time.monotonic()))
        start.set()
        result_timeout = duration + 120.0 if max_spans_per_sender is None else duration + 600.0
        for _ in procs:
            out.append(results.get(timeout=result_timeout))
        for p in procs:
            p.join(timeout=10)
    finally:
        start.set()
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
    return out


# --------------------------------------------------------------------------- storage


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of load per protocol (20)")
    ap.add_argument("--senders", type=int, default=8, help="client processes per protocol (8)")
    ap.add_argument("--concurrency", type=int, default=1,
                    help="closed loops (connections / in-flight requests) per sender process (1)")
    ap.add_argument("--payloads-per-sender", type=int, default=64,
                    help="distinct pre-serialized requests per sender (64)")
    ap.add_argument("--resources", type=int, default=5, help="resources per request (5)")
    ap.add_argument("--spans-per-resource", type=int, default=200, help="spans per resource (200)")
    ap.add_argument("--protocols", default="http,grpc", help="comma list, in order: http,grpc")
    ap.add_argument("--grpc-mode", choices=("stub", "bytes"), default="stub",
                    help="stub: TraceServiceStub with messages (default); bytes: pre-serialized payloads")
    ap.add_argument("--max-backoff", type=float, default=0.5,
                    help="cap (s) on the back-off after a refusal, even if Retry-After is longer (0.5)")
    ap.add_argument("--pause", type=float, default=2.0, help="idle seconds between the protocol phases")
    ap.add_argument("--ceiling-seconds", type=float, default=3.0, help="time spent on the decode ceiling")
    add_server_args(ap, startup_timeout=180.0)
    ap.add_argument("--no-optimize", action="store_true", help="skip OPTIMIZE TABLE otel_traces FINAL")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    install_signal_handlers()
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    if not protocols or any(p not in ("http", "grpc") for p in protocols):
        raise SystemExit("--protocols takes http and/or grpc")
    spans_per_request = args.resources * args.spans_per_resource
    print(f"vigil ingest benchmark: {args.senders} senders x {args.concurrency} in flight, "
          f"{args.duration:g}s per protocol, "
          f"{spans_per_request} spans/request, {os.cpu_count()} CPUs")

    t0 = time.perf_counter()
    per_sender = generate_payloads(args.senders, args.payloads_per_sender, args.resources,
                                   args.spans_per_resource)
    flat = [p for lst in per_sender for p in lst]
    mean_bytes = sum(len(b) for b, _ in flat) / len(flat)
    print(f"generated {len(flat)} distinct requests ({mean_bytes / 1024:.0f} KiB each) "
          f"in {time.perf_counter() - t0:.1f}s")
    ceiling = decode_ceiling(flat, args.ceiling_seconds)
    print(f"upb decode-only ceiling: {ceiling['spans_per_s']:,.0f} spans/s "
          f"({ceiling['mib_per_s']:.0f} MiB/s)")

    phases: dict[str, PhaseResult] = {}
    cpu: dict[str, float] = {}
    peaks: dict[str, tuple[int, int, int]] = {}
    status = 0
    startup = stop_s = 0.0
    idle_rss = 0
    peak: tuple[int, int, int] = (0, 0, 0)
    code: int | None = None
    with work_dir(args.data_dir, args.keep, "vigil-ingest-") as (data_dir, log_path):
        dsn = store_dsn(data_dir)
        baseline = store_row_count(dsn) if not dsn.startswith("chdb:") else 0
        server = ServerProcess(data_dir, log_path, args.host, args.server_arg)
        sampler: RssSampler | None = None
        try:
            startup = server.start(args.startup_timeout)
            print(f"server pid {server.pid} healthy after {startup:.1f}s "
                  f"(api :{server.ports.api}, grpc :{server.ports.grpc}, http :{server.ports.http}); "
                  f"log {log_path}")
            sampler = RssSampler(server.pid, pid_file=data_dir / "pg" / "postmaster.pid")
            sampler.start()
            idle_rss = sampler.sample()[0]
            for i, proto in enumerate(protocols):
                if i:
                    time.sleep(args.pause)
                cpu0 = sampler.cpu_seconds()
                raw = run_senders(proto, server.ports, per_sender, args.duration, args.grpc_mode,
                                  max_backoff=args.max_backoff, concurrency=args.concurrency)
                phase = aggregate(proto, raw)
                phase.drain_s = wait_drained(server.ports.api, args.host)
                cpu[proto] = sampler.cpu_seconds() - cpu0
                phases[proto] = phase
                peaks[proto] = sampler.peak(phase.t_start, phase.t_end + 0.2)
                print(f"{proto}: {phase.spans_per_s:,.0f} accepted spans/s, {phase.stored_spans_per_s:,.0f} stored "
                      f"spans/s (drained {phase.drain_s:.1f}s after the load), p50 {phase.p50_ms:.1f} ms, "
                      f"p99 {phase.p99_ms:.1f} ms, refused {phase.refused}, errors {phase.errors}")
                for msg in phase.error_samples:
                    print(f"  error sample: {msg}")
                if server.proc is not None and server.proc.poll() is not None:
                    raise RuntimeError(f"server died during the {proto} phase\n{server.log_tail()}")
            sampler.stop()
            peak = sampler.peak()
        finally:
            if sampler is not None:
                sampler.stop()
            t_stop = time.perf_counter()
            code = server.stop(args.shutdown_timeout)
            stop_s = time.perf_counter() - t_stop
        print(f"server stopped (exit status {code}) in {stop_s:.1f}s")
        if code not in (0, None, -signal.SIGTERM):
            print(server.log_tail(), file=sys.stderr)

        store = measure_store(dsn, optimize=not args.no_optimize)
        rows = store["rows"] - baseline
        acked = sum(p.accepted_spans for p in phases.values())
        lost = rows < acked
        if lost:
            status = 1

    summary = build_summary(args, ceiling, phases, cpu, peaks, peak, idle_rss, store,
                            rows, acked, startup, stop_s, code)
    print_report(summary)
    if lost:
        print(f"\nFAIL: otel_traces holds {rows:,} rows but {acked:,} spans were acknowledged",
              file=sys.stderr)
    print(json.dumps(summary, sort_keys=True))
    return status


def build_summary(args: argparse.Namespace, ceiling: dict[str, float], phases: dict[str, PhaseResult],
                  cpu: dict[str, float], peaks: dict[str, tuple[int, int, int]], peak: tuple[int, int, int],
                  idle_rss: int, store: dict[str, Any], rows: int, acked: int, startup: float,
                  stop_s: float, code: int | None) -> dict[str, Any]:
    def r(x: float, nd: int = 1) -> float | None:
        return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, nd)

    out: dict[str, Any] = {
        "benchmark": "ingest",
        "cpus": os.cpu_count(),
        "senders": args.senders,
        "concurrency_per_sender": args.concurrency,
        "duration_s": args.duration,
        "spans_per_request": args.resources * args.spans_per_resource,
        "grpc_mode": args.grpc_mode,
        "decode_ceiling_spans_per_s": r(ceiling["spans_per_s"], 0),
        "server_startup_s": r(startup, 2),
        "server_stop_s": r(stop_s, 2),
        "server_exit_status": code,
        "server_idle_rss_mib": r(idle_rss / MIB),
        "server_peak_rss_mib": r(peak[0] / MIB),
        "server_peak_rss_main_process_mib": r(peak[1] / MIB),
        "embedded_postgres_peak_rss_mib": r(peak[2] / MIB),
        "acknowledged_spans": acked,
        "stored_rows": rows,
        "stored_ge_acknowledged": rows >= acked,
        "bytes_per_span": r(store["bytes_per_span"], 2),
        "bytes_per_span_with_trace_id_index": r(store["bytes_per_span_with_index"], 2),
        "bytes_on_disk": store["bytes_on_disk"],
        "optimize_final_s": r(store["optimize_seconds"], 2),
    }
    for proto, ph in phases.items():
        out[proto] = {
            "accepted_spans_per_s": r(ph.spans_per_s, 0),
            "stored_spans_per_s": r(ph.stored_spans_per_s, 0),
            "drain_s": r(ph.drain_s, 2),
            "accepted_spans": ph.accepted_spans,
            "rejected_spans": ph.rejected_spans,
            "requests_ok": ph.requests_ok,
            "refused": ph.refused,
            "errors": ph.errors,
            "p50_ms": r(ph.p50_ms, 2),
            "p99_ms": r(ph.p99_ms, 2),
            "seconds": r(ph.seconds, 2),
            "ratio_to_decode_ceiling": r(ph.spans_per_s / ceiling["spans_per_s"], 4),
            "server_cpu_cores": r(cpu.get(proto, math.nan) / (ph.seconds + ph.drain_s), 2),
            "peak_rss_mib": r(peaks.get(proto, (0, 0, 0))[0] / MIB),
        }
    return out


def print_report(s: dict[str, Any]) -> None:
    def v(x: Any, unit: str = "", nd: int = 0) -> str:
        if x is None:
            return "n/a"
        if isinstance(x, bool):
            return "yes" if x else "NO"
        if isinstance(x, (int, float)):
            return f"{x:,.{nd}f}{unit}"
        return f"{x}{unit}"

    rows: list[tuple[str, str]] = []
    for proto in ("http", "grpc"):
        if proto not in s:
            continue
        p = s[proto]
        name = "OTLP/HTTP" if proto == "http" else "OTLP/gRPC"
        rows += [
            (f"{name} accepted spans/s", v(p["accepted_spans_per_s"])),
            (f"{name} stored spans/s (incl. drain)", v(p["stored_spans_per_s"])),
            (f"{name} spool drain after the load", v(p["drain_s"], " s", 1)),
            (f"{name} ack latency p50", v(p["p50_ms"], " ms", 1)),
            (f"{name} ack latency p99", v(p["p99_ms"], " ms", 1)),
            (f"{name} accepted / decode ceiling", v(p["ratio_to_decode_ceiling"] * 100, " %", 1)),
            (f"{name} requests ok / refused / errors",
             f"{p['requests_ok']:,} / {p['refused']:,} / {p['errors']:,}"),
            (f"{name} server CPU (cores busy)", v(p["server_cpu_cores"], "", 2)),
        ]
    rows += [
        ("upb decode-only ceiling spans/s", v(s["decode_ceiling_spans_per_s"])),
        ("server peak RSS (incl. children + pg)", v(s["server_peak_rss_mib"], " MiB", 1)),
        ("  of which server process (peak)", v(s["server_peak_rss_main_process_mib"], " MiB", 1)),
        ("  of which embedded postgres (peak)", v(s["embedded_postgres_peak_rss_mib"], " MiB", 1)),
        ("server idle RSS (incl. children + pg)", v(s["server_idle_rss_mib"], " MiB", 1)),
        ("spans acknowledged", v(s["acknowledged_spans"])),
        ("rows in otel_traces", v(s["stored_rows"])),
        ("rows >= acknowledged", v(s["stored_ge_acknowledged"])),
        ("bytes/span on disk (otel_traces)", v(s["bytes_per_span"], " B", 1)),
        ("bytes/span incl. trace-id index", v(s["bytes_per_span_with_trace_id_index"], " B", 1)),
        ("server startup / shutdown", f"{s['server_startup_s']:.1f} s / {s['server_stop_s']:.1f} s"),
    ]
    print_table(f"Vigil ingest: {s['senders']} senders x {s['concurrency_per_sender']} in flight, "
                f"{s['duration_s']:g}s per protocol, {s['cpus']} CPUs, "
                f"{s['spans_per_request']} spans/request", rows)


if __name__ == "__main__":
    sys.exit(main())
