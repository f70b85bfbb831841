"""PromQL engine benchmark: rule-style instant queries and a 24 h range query, in memory and on the columnar store.

What it measures, in one run, over the same samples in two stores: ``--store memory`` is the engine
over :class:`query.promql.memstore.MemoryStore` (the evaluator alone); ``--store columnar`` (default
``both``) writes them as OTLP metrics into an embedded chDB through the real inserter (cumulative sums,
gauges, explicit-bucket histograms; ``job`` = ``service.name``, ``instance`` = ``service.instance.id``)
and reads them back through :class:`query.promql.columnar.ColumnarSource`, as the API does:

* **rules**: ``--rules`` (1000) rule expressions evaluated at one instant as one evaluation cycle
  (through a :class:`query.promql.snapshot.Snapshot` of the last hour, as the rule evaluator does), over
  ``--series`` counters, gauges and histogram buckets scraped every 15 s for 24 h (≥ 1 M samples). The
  expressions are drawn from alerting-rule shapes: ``sum by (job) (rate(x[5m]))``, error ratios,
  ``histogram_quantile`` over ``rate(…_bucket[5m])``, threshold comparisons, ``avg_over_time``,
  ``absent``. Goal: all of them within one 30 s evaluation interval.
* **query_range**: ``rate(x[5m])`` for 100 series over 24 h at a 60 s step (1441 steps). Goal ≤ 500 ms.
* **baseline, same run**: the cost per rule without the snapshot (the first 50 rules); the time to
  fetch the same samples from the store (``select``) and to compute the same per-step sums with plain
  numpy (``np.searchsorted`` windows), so the engine's own overhead is visible next to the unavoidable
  data access.

Run from the repository root: ``python bench/promql.py`` (``--series``, ``--rules``, ``--repeat``,
``--store``). Prints a table per store and, last, one JSON line per store.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest  # noqa: E402
from opentelemetry.proto.metrics.v1 import metrics_pb2  # noqa: E402

from contracts.signals import Signal  # noqa: E402
from query.promql.columnar import ColumnarSource  # noqa: E402
from query.promql.engine import Engine  # noqa: E402
from query.promql.memstore import MemoryStore  # noqa: E402
from query.promql.model import Matcher, SampleSource, labels_of  # noqa: E402
from query.promql.snapshot import Snapshot  # noqa: E402
from storage.clickhouse.client import connect, protobuf_settings  # noqa: E402
from storage.clickhouse.inserter import ChunkInserter  # noqa: E402
from storage.clickhouse.migrations import Retention, migrate  # noqa: E402
from storage.clickhouse.reader import ClickHouseReader  # noqa: E402

DAY_MS = 86_400_000
HORIZON_MS = 3_600_000
DIRECT_RULES = 50
SCRAPE_MS = 15_000
BUCKETS = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")


def build(series: int, t0_ms: int, seed: int = 7) -> tuple[MemoryStore, int]:
    """A store with ``series`` counters, ``series`` gauges and histograms for ``series // 10`` jobs; samples.

    Samples every 15 s over the day from ``t0_ms``.
    """
    rnd = np.random.default_rng(seed)
    st = MemoryStore()
    t = np.arange(t0_ms, t0_ms + DAY_MS + 1, SCRAPE_MS, dtype=np.int64)
    n = 0
    for i in range(series):
        job, inst = f"job{i % 10}", f"i{i}"
        c = np.cumsum(rnd.poisson(5, t.size)).astype(np.float64)
        code = "500" if i % 7 == 0 else "200"
        st.add_series(labels_of({"__name__": "http_requests_total", "job": job, "instance": inst, "code": code}),
                      list(zip(t.tolist(), c.tolist(), strict=True)))
        g = rnd.normal(50, 10, t.size)
        st.add_series(labels_of({"__name__": "cpu_usage", "job": job, "instance": inst}),
                      list(zip(t.tolist(), g.tolist(), strict=True)))
        n += 2 * t.size
    for j in range(series // 10):
        base = np.cumsum(rnd.poisson(20, t.size)).astype(np.float64)
        for k, le in enumerate(BUCKETS):
            frac = (k + 1) / len(BUCKETS)
            st.add_series(labels_of({"__name__": "latency_seconds_bucket", "job": f"job{j}", "le": le}),
                          list(zip(t.tolist(), np.floor(base * frac).tolist(), strict=True)))
            n += t.size
    return st, n


def _kv(target: Any, attrs: dict[str, str]) -> None:
    for k, v in attrs.items():
        kv = target.add()
        kv.key, kv.value.string_value = k, v


def to_otlp(st: MemoryStore, t0_ms: int) -> list[bytes]:
    """The memory store's series as OTLP metric requests (one per resource and metric)."""
    cumulative = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    everything = st.select([], 0, t0_ms + 2 * DAY_MS)
    out: list[bytes] = []
    hist: dict[str, dict[str, Any]] = {}
    for s in everything:
        lab = dict(s.labels)
        name = lab["__name__"]
        if name == "latency_seconds_bucket":
            hist.setdefault(lab["job"], {})[lab["le"]] = s
            continue
        req = ExportMetricsServiceRequest()
        rm = req.resource_metrics.add()
        _kv(rm.resource.attributes, {"service.name": lab["job"], "service.instance.id": lab["instance"]})
        m = rm.scope_metrics.add().metrics.add()
        if name == "http_requests_total":
            m.name = "http.requests"
            m.sum.is_monotonic, m.sum.aggregation_temporality = True, cumulative
            points = m.sum.data_points
        else:
            m.name = "cpu.usage"
            points = m.gauge.data_points
        for t, v in zip(s.t.tolist(), s.v.tolist(), strict=True):
            p = points.add(start_time_unix_nano=t0_ms * 1_000_000, time_unix_nano=t * 1_000_000, as_double=v)
            if "code" in lab:
                _kv(p.attributes, {"code": lab["code"]})
        out.append(req.SerializeToString())
    for job, by_le in hist.items():
        req = ExportMetricsServiceRequest()
        rm = req.resource_metrics.add()
        _kv(rm.resource.attributes, {"service.name": job})
        m = rm.scope_metrics.add().metrics.add(name="latency", unit="s")
        m.histogram.aggregation_temporality = cumulative
        cum = np.vstack([by_le[le].v for le in BUCKETS])  # cumulative per le, +Inf last
        per_bucket = np.diff(cum, axis=0, prepend=0.0)
        for i, t in enumerate(by_le[BUCKETS[0]].t.tolist()):
            p = m.histogram.data_points.add(start_time_unix_nano=t0_ms * 1_000_000, time_unix_nano=t * 1_000_000,
                                            count=int(cum[-1, i]), sum=float(cum[-1, i]) * 0.3)
            p.explicit_bounds.extend(float(b) for b in BUCKETS[:-1])
            p.bucket_counts.extend(int(c) for c in per_bucket[:, i])
        out.append(req.SerializeToString())
    return out


def columnar(st: MemoryStore, t0_ms: int, data_dir: str) -> tuple[ColumnarSource, float]:
    """An embedded chDB at ``data_dir`` holding ``st``'s samples as OTLP metrics; the source and load seconds."""
    dsn = f"chdb://{data_dir}"
    admin = connect(dsn)
    migrate(admin, Retention(30, 30, 90))
    admin.close()
    started = time.perf_counter()
    inserter = ChunkInserter(lambda: connect(dsn), lambda m: protobuf_settings(dsn, m))
    payloads = to_otlp(st, t0_ms)
    for i in range(0, len(payloads), 20):
        inserter.insert(Signal.METRICS, payloads[i:i + 20], uuid.uuid4().hex)
    return ColumnarSource(ClickHouseReader(lambda: connect(dsn))), time.perf_counter() - started


def rules(count: int, seed: int = 11) -> list[str]:
    """``count`` rule expressions of common alerting shapes."""
    rnd = random.Random(seed)
    shapes = [
        'sum by (job) (rate(http_requests_total{{job="job{j}"}}[5m])) > {x}',
        'sum(rate(http_requests_total{{code="500",job="job{j}"}}[5m]))'
        ' / sum(rate(http_requests_total{{job="job{j}"}}[5m])) > 0.0{k}',
        'histogram_quantile(0.9, sum by (le) (rate(latency_seconds_bucket{{job="job{j}"}}[5m]))) > 0.{k}',
        'avg_over_time(cpu_usage{{job="job{j}"}}[10m]) > {x}',
        'max by (instance) (cpu_usage{{job="job{j}"}}) > 80',
        'absent(up{{job="job{j}"}})',
        'increase(http_requests_total{{job="job{j}",code="500"}}[15m]) > {x}',
        'topk(3, rate(http_requests_total{{job="job{j}"}}[5m]))',
    ]
    return [rnd.choice(shapes).format(j=rnd.randrange(10), x=rnd.randrange(1, 100), k=rnd.randrange(1, 9))
            for _ in range(count)]


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def measure(store: str, source: SampleSource, samples: int, series: int, exprs: list[str], t0_ms: int,
            repeat: int, load_s: float) -> dict[str, Any]:
    """The figures of one store."""
    engine = Engine(source)
    now, end = t0_ms + DAY_MS, t0_ms + DAY_MS
    engine.instant(exprs[0], now)  # warm caches (the store's arrays, the columnar catalogue)

    def cycle() -> None:  # as a rule evaluator runs a cycle: one Snapshot per cycle, 1 h of horizon
        snap = Engine(Snapshot(source, now - HORIZON_MS, now))
        for e in exprs:
            snap.instant(e, now)

    rules_ms = timed(cycle, 1)[0]
    direct = exprs[:DIRECT_RULES]
    direct_ms = timed(lambda: [engine.instant(e, now) for e in direct], 1)[0]
    sel = [Matcher.make("__name__", "=", "http_requests_total")]
    range_ms = timed(lambda: engine.range("rate(http_requests_total[5m])", t0_ms, end, 60_000), repeat)
    select_ms = timed(lambda: source.select(sel, t0_ms - 300_000, end), repeat)
    steps = np.arange(t0_ms, end + 1, 60_000, dtype=np.int64)
    fetched = source.select(sel, t0_ms - 300_000, end)

    def numpy_floor() -> None:
        for s in fetched:
            lo = np.searchsorted(s.t, steps - 300_000, side="left")
            hi = np.searchsorted(s.t, steps, side="right") - 1
            ok = hi > lo
            _ = np.where(ok, (s.v[np.maximum(hi, 0)] - s.v[np.minimum(lo, s.v.size - 1)]) / 300.0, np.nan)

    floor_ms = timed(numpy_floor, repeat)
    return {
        "benchmark": "promql", "store": store, "samples": samples, "load_s": round(load_s, 2),
        "rules": len(exprs), "rules_total_ms": round(rules_ms, 1), "rules_goal_ms": 30_000,
        "baseline_rule_without_snapshot_ms": round(direct_ms / len(direct), 2),
        "range_steps": int(steps.size), "range_series": series,
        "range_p50_ms": round(statistics.median(range_ms), 1), "range_goal_ms": 500,
        "baseline_select_p50_ms": round(statistics.median(select_ms), 1),
        "baseline_numpy_rate_p50_ms": round(statistics.median(floor_ms), 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=100, help="counters and gauges each (100)")
    ap.add_argument("--rules", type=int, default=1000, help="rule expressions (1000)")
    ap.add_argument("--repeat", type=int, default=5, help="repetitions of the range query (5)")
    ap.add_argument("--store", choices=("memory", "columnar", "both"), default="both")
    args = ap.parse_args()
    t0_ms = (int(time.time()) // 60 * 60 - 86_400 - 600) * 1000  # the day ending 10 minutes ago
    started = time.perf_counter()
    st, samples = build(args.series, t0_ms)
    exprs = rules(args.rules)
    results = []
    if args.store in ("memory", "both"):
        results.append(measure("memory", st, samples, args.series, exprs, t0_ms, args.repeat,
                               time.perf_counter() - started))
    if args.store in ("columnar", "both"):
        with tempfile.TemporaryDirectory(prefix="vigil-bench-promql-") as tmp:
            source, load_s = columnar(st, t0_ms, tmp)
            results.append(measure("columnar", source, samples, args.series, exprs, t0_ms, args.repeat, load_s))
    for result in results:
        print(f"{'figure':<34}{'value':>12}")
        for k, v in result.items():
            print(f"{k:<34}{v!s:>12}")
        print()
    for result in results:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
