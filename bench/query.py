"""Query benchmark: latency of the trace API of a real ``vigil serve`` over a store of >= 10 M spans.

How the store is filled: ``python -m vigil.cli migrate --data-dir <dir>`` creates the schema, then a
separate (spawned) process opens the embedded chDB store and lets ClickHouse generate the rows itself
(``INSERT INTO otel_traces SELECT ... FROM numbers(...)`` in chunks), so loading 10 M spans takes about a
minute instead of pushing them through OTLP. The materialized view fills ``otel_traces_trace_id_ts`` as it
would on ingest. Distributions: 10 spans per trace sharing a TraceId, parent links forming a tree (root
span = SERVER, children CLIENT — HTTP calls and db/cache/messaging calls — or INTERNAL), 8 services with
a skewed mix, 50 span names (28 HTTP ``METHOD route`` names over 7 routes, 22 db/cache/messaging/rpc
names), span attributes with
``http.route``, ``http.request.method``, ``url.path``, ``http.response.status_code`` (2 % errors) and
``user.id`` (100 k users) or ``db.system``/``db.operation`` (and ``db.statement`` with a literal id for
the postgresql ones), 10 % of spans with an event, durations
exponential (mean 20 ms), trace start times uniform over the last 24 h. Trace ids are
``md5(prefix + trace number)`` so the script knows real ids without reading them back.

Then the server is started on that data dir and each query is run sequentially over one keep-alive
connection (``--warmup`` untimed runs, then ``--runs`` timed runs; wall time from request to complete
answer on the client):

* ``GET /api/traces/{id}`` for a different random known id each run — goal p50 <= 30 ms
* ``GET /api/traces?service=X&range=1h`` cycling through the services — goal p50 <= 100 ms
* ``GET /api/traces?attr=http.route:/api/cart&range=24h`` — goal p50 <= 300 ms

Then every APM endpoint of :mod:`bench.apm_queries` (``/api/dashboard``, ``/api/metrics/*``, the
service map and insights) at ``range=1h`` (goal p50 <= 200 ms) and ``range=7d`` (goal <= 1 s);
``--no-apm`` skips them. ``--reuse`` with ``--data-dir`` of a kept store (``--keep`` or an earlier
``--data-dir`` run) skips the load and only migrates, so new rollups are backfilled.

Every answer must be HTTP 200 and non-empty (a fast empty answer proves nothing); otherwise the exit
status is 1. ``--fail-on-goal`` also exits 1 when a p50 misses its goal. Results are printed as a table
and, last, as one JSON line.

Run from the repository root::

    python bench/query.py                      # 10 M spans
    python bench/query.py --spans 1000000      # quick run
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import math
import multiprocessing as mp
import os
import random
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # `python bench/query.py` puts bench/ (not the root) on sys.path
    sys.path.insert(0, str(REPO_ROOT))

from bench import apm_queries  # noqa: E402
from bench.harness import (  # noqa: E402
    MIB,
    RssSampler,
    ServerProcess,
    add_server_args,
    install_signal_handlers,
    percentile,
    print_table,
    store_dsn,
    work_dir,
)

SPANS_PER_TRACE = 10
HTTP_TIMEOUT_S = 60  # a slower answer counts as a failure
TRACE_PREFIX = "vigil-bench-"
SERVICES = ["gateway", "cart", "catalog", "search", "checkout", "users", "payments", "email"]
# skewed service mix for child spans: index into SERVICES, 20 slots
SERVICE_SLOTS = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 1]
ROUTES = ["/api/orders/{id}", "/api/cart", "/api/pay", "/api/items", "/api/search", "/login", "/health"]
METHODS = ["GET", "POST", "PUT", "DELETE"]
OTHER_NAMES = [
    ("SELECT orders", "postgresql", "SELECT"), ("INSERT orders", "postgresql", "INSERT"),
    ("UPDATE orders", "postgresql", "UPDATE"), ("SELECT items", "postgresql", "SELECT"),
    ("SELECT users", "postgresql", "SELECT"), ("UPDATE users", "postgresql", "UPDATE"),
    ("SELECT carts", "postgresql", "SELECT"), ("DELETE carts", "postgresql", "DELETE"),
    ("redis GET", "redis", "GET"), ("redis SET", "redis", "SET"), ("redis DEL", "redis", "DEL"),
    ("redis MGET", "redis", "MGET"), ("kafka publish orders", "kafka", "publish"),
    ("kafka publish emails", "kafka", "publish"), ("kafka process payments", "kafka", "process"),
    ("grpc catalog.GetItem", "grpc", "GetItem"), ("grpc users.GetUser", "grpc", "GetUser"),
    ("grpc payments.Charge", "grpc", "Charge"), ("render template", "internal", "render"),
    ("validate cart", "internal", "validate"), ("compute price", "internal", "compute"),
    ("search index query", "elasticsearch", "search"),
]
GOALS_MS = {"trace_by_id": 30.0, "search_service_1h": 100.0, "search_attr_24h": 300.0}


def _sql_list(values: Sequence[str]) -> str:
    return "[" + ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values) + "]"


def trace_id(n: int) -> str:
    """The TraceId the loader gives trace number ``n`` (same formula as the SQL)."""
    return hashlib.md5(f"{TRACE_PREFIX}{n}".encode()).hexdigest()  # noqa: S324 - an id, not security


def insert_sql(first_span: int, count: int, now_ns: int) -> str:
    """``INSERT ... SELECT`` generating spans ``first_span .. first_span + count - 1``."""
    services = _sql_list(SERVICES)
    slots = "[" + ", ".join(str(i + 1) for i in SERVICE_SLOTS) + "]"
    routes, methods = _sql_list(ROUTES), _sql_list(METHODS)
    other_names = _sql_list([n for n, _, _ in OTHER_NAMES])
    other_sys = _sql_list([s for _, s, _ in OTHER_NAMES])
    other_op = _sql_list([o for _, _, o in OTHER_NAMES])
    day_ns = 86_400 * 1_000_000_000
    span_id = "lower(hex(reinterpretAsFixedString(cityHash64('{p}', toUInt64({x})))))"
    return f"""
INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName,
    ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode,
    `Events.Timestamp`, `Events.Name`, `Events.Attributes`)
SELECT
    fromUnixTimestamp64Nano(toInt64(start_ns)) AS Timestamp,
    lower(hex(MD5(concat('{TRACE_PREFIX}', toString(t))))) AS TraceId,
    {span_id.format(p=TRACE_PREFIX, x='n')} AS SpanId,
    if(k = 0, '', {span_id.format(p=TRACE_PREFIX, x='t * 10 + intDiv(k - 1, 3)')}) AS ParentSpanId,
    if(is_http, concat(method, ' ', route), {other_names}[other_i]) AS SpanName,
    multiIf(k = 0, 'Server', is_http OR {other_sys}[other_i] NOT IN ('internal', 'grpc'), 'Client', 'Internal')
        AS SpanKind,
    svc AS ServiceName,
    map('service.name', svc, 'service.version', '1.4.2', 'host.name', concat('node-', toString(h3 % 16)),
        'deployment.environment', 'production', 'telemetry.sdk.language', 'python') AS ResourceAttributes,
    'opentelemetry.instrumentation.asgi' AS ScopeName,
    '0.48b0' AS ScopeVersion,
    if(is_http,
       map('http.request.method', method, 'http.route', route,
           'url.path', replaceOne(route, '{{id}}', toString(h3 % 100000)),
           'http.response.status_code', if(is_error, '500', '200'),
           'server.address', 'api.example.com', 'user.id', concat('user-', toString(h4 % 100000))),
       map('db.system', {other_sys}[other_i], 'db.operation', {other_op}[other_i],
           'db.statement', if({other_sys}[other_i] = 'postgresql',
                              concat({other_names}[other_i], ' WHERE id = ', toString(h3 % 1000)), ''),
           'user.id', concat('user-', toString(h4 % 100000)))) AS SpanAttributes,
    toUInt64(if(k = 0, 50000000, 0) + dur) AS Duration,
    if(is_error, 'Error', 'Unset') AS StatusCode,
    arraySlice([fromUnixTimestamp64Nano(toInt64(start_ns + intDiv(dur, 2)))], 1, has_event)
        AS `Events.Timestamp`,
    arraySlice([if(is_error, 'exception', 'cache.miss')], 1, has_event) AS `Events.Name`,
    arraySlice([map('exception.type', 'TimeoutError', 'exception.message', 'upstream')], 1, has_event)
        AS `Events.Attributes`
FROM (
    SELECT
        number AS n,
        intDiv(number, {SPANS_PER_TRACE}) AS t,
        number % {SPANS_PER_TRACE} AS k,
        cityHash64('trace', t) AS th,
        cityHash64('span', n) AS h1,
        cityHash64('attr', n) AS h2,
        cityHash64('host', n) AS h3,
        cityHash64('user', t) AS h4,
        (k = 0 OR h1 % 2 = 0) AS is_http,
        {services}[if(k = 0 AND th % 2 = 0, 1, {slots}[1 + h1 % 20])] AS svc,
        {routes}[1 + h2 % {len(ROUTES)}] AS route,
        {methods}[1 + intDiv(h2, 16) % {len(METHODS)}] AS method,
        1 + intDiv(h1, 2) % {len(OTHER_NAMES)} AS other_i,
        (intDiv(h2, 1024) % 100 < 2) AS is_error,
        toUInt8(intDiv(h1, 4096) % 10 = 0) AS has_event,
        toInt64(-log(1 - ((intDiv(h3, 64) % 1000000) + 0.5) / 1000000) * 20000000) AS dur,
        toInt64({now_ns}) - 1000000000 - toInt64(th % {day_ns}) + toInt64(k) * 2000000
            + toInt64(intDiv(h1, 65536) % 1000000) AS start_ns
    FROM numbers({first_span}, {count})
)
"""


def _scalar(client: Any, sql: str) -> int:
    return int(client.query(sql).result_rows[0][0])


def load_store(dsn: str, spans: int, chunk: int, optimize: bool, now_ns: int, out: Any) -> None:
    """In a spawned process (chDB holds one data path per process): generate ``spans`` rows."""
    from bench.harness import open_store

    result: dict[str, Any] = {}
    try:
        client = open_store(dsn)
        t0 = time.perf_counter()
        done = 0
        while done < spans:
            n = min(chunk, spans - done)
            client.command(insert_sql(done, n, now_ns))
            done += n
            print(f"  loaded {done:,} / {spans:,} spans ({time.perf_counter() - t0:.0f}s)", flush=True)
        result["insert_seconds"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        if optimize:
            client.command("OPTIMIZE TABLE otel_traces FINAL")
            client.command("OPTIMIZE TABLE otel_traces_trace_id_ts FINAL")
            for rollup in ("vigil_red_1m", "vigil_db_1m", "vigil_errors_1m"):  # as background merges would
                client.command(f"OPTIMIZE TABLE {rollup} FINAL")
        result["optimize_seconds"] = time.perf_counter() - t1
        result["rows"] = _scalar(client, "SELECT count() FROM otel_traces")
        result["trace_id_rows"] = _scalar(client, "SELECT count() FROM otel_traces_trace_id_ts")
        parts = client.query(
            "SELECT table, count(), sum(bytes_on_disk) FROM system.parts WHERE active "
            "AND database = currentDatabase() AND table IN ('otel_traces', 'otel_traces_trace_id_ts') "
            "GROUP BY table").result_rows
        result["parts"] = {str(t): int(c) for t, c, _ in parts}
        result["bytes_on_disk"] = {str(t): int(b) for t, _, b in parts}
        result["services"] = [str(r[0]) for r in client.query(
            "SELECT DISTINCT ServiceName FROM otel_traces ORDER BY ServiceName").result_rows]
        result["cart_spans_24h"] = _scalar(
            client, "SELECT count() FROM otel_traces WHERE SpanAttributes['http.route'] = '/api/cart'")
        sample = [trace_id(i) for i in range(0, max(1, spans // SPANS_PER_TRACE), max(1, spans // 100))]
        result["sample_ids_found"] = _scalar(
            client, f"SELECT uniqExact(TraceId) FROM otel_traces WHERE TraceId IN {_sql_list(sample)}")
        result["sample_ids"] = len(sample)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        result["error"] = f"{type(exc).__name__}: {exc}"
    out.put(result)


def run_loader(dsn: str, spans: int, chunk: int, optimize: bool, now_ns: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=load_store, args=(dsn, spans, chunk, optimize, now_ns, q), name="loader")
    proc.start()
    try:
        result: dict[str, Any] = q.get()
        proc.join(timeout=120)
    finally:
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=10)
    if "error" in result:
        raise RuntimeError(f"loading the store failed: {result['error']}")
    return result


def migrate(data_dir: Path, log_path: Path, timeout: float) -> None:
    cmd = [sys.executable, "-m", "vigil.cli", "migrate", "--data-dir", str(data_dir)]
    with open(log_path, "ab") as log:
        code = subprocess.run(cmd, cwd=str(REPO_ROOT), stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=timeout, check=False).returncode
    if code != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"`vigil migrate` exited with {code}\n{tail}")


# --------------------------------------------------------------------------- measurement


@dataclass
class QueryStats:
    name: str
    goal_ms: float
    example: str
    latencies_ms: list[float] = field(default_factory=list)
    result_sizes: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p90(self) -> float:
        return percentile(self.latencies_ms, 90)


class ApiClient:
    """Sequential GETs over one keep-alive connection; reconnects when the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str) -> tuple[int, bytes, float]:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=HTTP_TIMEOUT_S)
                self.conn.connect()
            try:
                t0 = time.perf_counter()
                self.conn.request("GET", path, headers={"Accept": "application/json"})
                resp = self.conn.getresponse()
                body = resp.read()
                elapsed = time.perf_counter() - t0
                if resp.will_close:
                    self.close()
                return resp.status, body, elapsed
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run_query(client: ApiClient, stats: QueryStats, paths: Callable[[int], str],
              size_of: Callable[[dict[str, Any]], int], warmup: int, runs: int) -> None:
    for i in range(warmup + runs):
        path = paths(i)
        try:
            status, body, elapsed = client.get(path)
        except (OSError, http.client.HTTPException) as exc:
            client.close()  # a timed-out request leaves the connection unusable
            stats.failures.append(f"{path}: {type(exc).__name__}: {exc}")
            continue
        if i < warmup:
            continue
        stats.latencies_ms.append(elapsed * 1000)
        if status != 200:
            stats.failures.append(f"{path}: HTTP {status}: {body[:200]!r}")
            continue
        try:
            size = size_of(json.loads(body))
        except (ValueError, KeyError, TypeError) as exc:
            stats.failures.append(f"{path}: unexpected answer ({exc!r}): {body[:200]!r}")
            continue
        stats.result_sizes.append(size)
        if size == 0:
            stats.failures.append(f"{path}: empty result")


def measure(host: str, port: int, total_traces: int, services: Sequence[str], warmup: int, runs: int,
            limit: int, seed: int, skip_apm: bool = False) -> list[QueryStats]:
    rnd = random.Random(seed)
    ids = [trace_id(rnd.randrange(total_traces)) for _ in range(warmup + runs)]
    svc = list(services)
    rnd.shuffle(svc)
    q = urllib.parse.urlencode
    by_id = QueryStats("trace_by_id", GOALS_MS["trace_by_id"], f"/api/traces/{ids[0]}")
    by_service = QueryStats("search_service_1h", GOALS_MS["search_service_1h"],
                            "/api/traces?" + q({"service": svc[0], "range": "1h", "limit": limit}))
    by_attr = QueryStats("search_attr_24h", GOALS_MS["search_attr_24h"],
                         "/api/traces?" + q({"attr": "http.route:/api/cart", "range": "24h", "limit": limit}))
    client = ApiClient(host, port)
    try:
        run_query(client, by_id, lambda i: f"/api/traces/{ids[i]}", lambda d: len(d["spans"]), warmup, runs)
        run_query(client, by_service,
                  lambda i: "/api/traces?" + q({"service": svc[i % len(svc)], "range": "1h", "limit": limit}),
                  lambda d: len(d["traces"]), warmup, runs)
        run_query(client, by_attr, lambda _i: by_attr.example, lambda d: len(d["traces"]), warmup, runs)
        apm = [] if skip_apm else measure_apm(client, warmup, runs)
    finally:
        client.close()
    return [by_id, by_service, by_attr, *apm]


def measure_apm(client: ApiClient, warmup: int, runs: int) -> list[QueryStats]:
    """Every endpoint of :mod:`bench.apm_queries`, at 1 h and 7 d."""
    out = []
    for name, path, goal, size in apm_queries.paths():
        stats = QueryStats(name, goal, path)
        run_query(client, stats, lambda _i, p=path: p, size or (lambda _d: 1), warmup, runs)
        out.append(stats)
    return out


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--spans", type=int, default=10_000_000, help="spans to load (10,000,000)")
    ap.add_argument("--chunk", type=int, default=1_000_000, help="spans per INSERT (1,000,000)")
    ap.add_argument("--runs", type=int, default=50, help="timed runs per query (50)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs per query first (3)")
    ap.add_argument("--limit", type=int, default=20, help="limit of the search queries (20)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-optimize", action="store_true",
                    help="skip OPTIMIZE TABLE ... FINAL after loading (queries then see many parts)")
    add_server_args(ap, startup_timeout=300.0)
    ap.add_argument("--reuse", action="store_true",
                    help="with --data-dir of an earlier run: keep its spans (migrate only, no load); trace ids are "
                         "then only valid with the same --spans and a store loaded less than a day ago")
    ap.add_argument("--no-apm", action="store_true", help="time only the trace API, not the APM endpoints")
    ap.add_argument("--fail-on-goal", action="store_true", help="exit 1 when a p50 misses its goal")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    install_signal_handlers()
    spans = max(SPANS_PER_TRACE, args.spans - args.spans % SPANS_PER_TRACE)
    chunk = max(SPANS_PER_TRACE, args.chunk - args.chunk % SPANS_PER_TRACE)
    print(f"vigil query benchmark: {spans:,} spans, {args.runs} runs per query, {os.cpu_count()} CPUs")
    reuse = bool(args.reuse and args.data_dir and Path(args.data_dir).is_dir() and any(Path(args.data_dir).iterdir()))
    with work_dir(args.data_dir, args.keep, "vigil-query-", reuse) as (data_dir, log_path):
        dsn = store_dsn(data_dir)
        if not dsn.startswith("chdb:"):
            print(f"! VIGIL_CLICKHOUSE_URL is set: loading into {dsn.split('@')[-1]} (must be empty)")
        t0 = time.perf_counter()
        migrate(data_dir, log_path, args.startup_timeout)
        print(f"migrated in {time.perf_counter() - t0:.1f}s; loading (server log: {log_path})")
        load = run_loader(dsn, 0 if reuse else spans, chunk, not (args.no_optimize or reuse), time.time_ns())
        print(f"loaded {load['rows']:,} rows in {load['insert_seconds']:.1f}s "
              f"(+{load['optimize_seconds']:.1f}s OPTIMIZE); parts {load['parts']}; "
              f"{load['sample_ids_found']}/{load['sample_ids']} sample trace ids present")

        server = ServerProcess(data_dir, log_path, args.host, args.server_arg)
        sampler: RssSampler | None = None
        with server:
            startup = server.start(args.startup_timeout)
            print(f"server pid {server.pid} healthy after {startup:.1f}s (api :{server.ports.api})")
            linked = apm_queries.wait_linked(server.ports.host, server.ports.api, time.time() - startup)
            print(f"span linker backfilled the store in {linked:.1f}s more")
            sampler = RssSampler(server.pid, pid_file=data_dir / "pg" / "postmaster.pid")
            sampler.start()
            try:
                results = measure(server.ports.host, server.ports.api, spans // SPANS_PER_TRACE,
                                  load["services"] or SERVICES, args.warmup, args.runs, args.limit, args.seed,
                                  args.no_apm)
            finally:
                sampler.stop()
            peak_rss = sampler.peak()[0]
            code = server.stop(args.shutdown_timeout)
        print(f"server stopped (exit status {code})")

    summary = build_summary(args, spans, load, results, startup, peak_rss)
    print_report(summary, results)
    failures = [f for r in results for f in r.failures]
    for f in failures[:10]:
        print(f"FAILED: {f}", file=sys.stderr)
    print(json.dumps(summary, sort_keys=True))
    missed = [r.name for r in results if not r.p50 <= r.goal_ms]
    if failures:
        return 1
    return 1 if missed and args.fail_on_goal else 0


def _r(x: float, nd: int = 1) -> float | None:
    return None if x is None or math.isnan(x) else round(x, nd)


def build_summary(args: argparse.Namespace, spans: int, load: dict[str, Any], results: Sequence[QueryStats],
                  startup: float, peak_rss: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "benchmark": "query",
        "cpus": os.cpu_count(),
        "spans": load["rows"],
        "traces": spans // SPANS_PER_TRACE,
        "runs": args.runs,
        "optimized": not args.no_optimize,
        "load_seconds": _r(load["insert_seconds"]),
        "optimize_seconds": _r(load["optimize_seconds"]),
        "parts": load["parts"],
        "bytes_per_span": _r(load["bytes_on_disk"].get("otel_traces", 0) / max(1, load["rows"]), 2),
        "cart_spans": load["cart_spans_24h"],
        "server_startup_s": _r(startup, 2),
        "server_peak_rss_mib": _r(peak_rss / MIB),
    }
    for r in results:
        sizes = sorted(r.result_sizes)
        out[r.name] = {
            "goal_ms": r.goal_ms,
            "p50_ms": _r(r.p50, 2),
            "p90_ms": _r(r.p90, 2),
            "max_ms": _r(max(r.latencies_ms), 2) if r.latencies_ms else None,
            "meets_goal_p50": bool(r.p50 <= r.goal_ms),
            "meets_goal_p90": bool(r.p90 <= r.goal_ms),
            "median_result_size": sizes[len(sizes) // 2] if sizes else 0,
            "failures": len(r.failures),
            "example": r.example,
        }
    return out


def print_report(s: dict[str, Any], results: Sequence[QueryStats]) -> None:
    header = ("query", "goal", "p50", "p90", "max", "results", "p50 vs goal")
    rows = []
    for r in results:
        d = s[r.name]
        verdict = "PASS" if d["meets_goal_p50"] else "MISS"
        if d["failures"]:
            verdict += f" ({d['failures']} failed)"
        rows.append((d["example"], f"<= {r.goal_ms:.0f} ms", f"{d['p50_ms']} ms", f"{d['p90_ms']} ms",
                     f"{d['max_ms']} ms", str(d["median_result_size"]), verdict))
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    line = "-" * (sum(widths) + 3 * len(widths) + 1)
    print(f"\nVigil query latency: {s['spans']:,} spans / {s['traces']:,} traces, {s['runs']} runs each, "
          f"{s['cpus']} CPUs, sequential, one keep-alive connection\n{line}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print(line)
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    print(line)
    print_table("store / server", [
        ("spans loaded", f"{s['spans']:,}"),
        ("load time (INSERT ... SELECT)", f"{s['load_seconds']} s"),
        ("OPTIMIZE FINAL", f"{s['optimize_seconds']} s" if s["optimized"] else "skipped"),
        ("active parts", json.dumps(s["parts"])),
        ("bytes/span on disk", f"{s['bytes_per_span']} B"),
        ("spans with http.route=/api/cart", f"{s['cart_spans']:,}"),
        ("server startup", f"{s['server_startup_s']} s"),
        ("server peak RSS (incl. children)", f"{s['server_peak_rss_mib']} MiB"),
    ])


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
