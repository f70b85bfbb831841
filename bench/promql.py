"""PromQL engine benchmark: rule-style instant queries and a 24 h range query, on the in-memory store.

What it measures, in one run (the engine over :class:`query.promql.memstore.MemoryStore`, i.e. the
evaluator without the columnar store's read cost):

* **rules**: ``--rules`` (1000) rule expressions evaluated at one instant over ``--series`` counters,
  gauges and histogram buckets scraped every 15 s for 24 h (≥ 1 M samples). The expressions are
  drawn from alerting-rule shapes: ``sum by (job) (rate(x[5m]))``, error ratios, ``histogram_quantile``
  over ``rate(…_bucket[5m])``, threshold comparisons, ``avg_over_time``, ``absent``. Goal: all of them
  within one 30 s evaluation interval.
* **query_range**: ``rate(x[5m])`` for 100 series over 24 h at a 60 s step (1441 steps). Goal ≤ 500 ms.
* **baseline, same run**: the time to fetch the same samples from the store (``select``) and to
  compute the same per-step sums with plain numpy (``np.searchsorted`` windows), so the engine's own
  overhead is visible next to the unavoidable data access.

Run from the repository root: ``python bench/promql.py`` (``--series``, ``--rules``, ``--repeat``).
Prints a table and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from query.promql.engine import Engine  # noqa: E402
from query.promql.memstore import MemoryStore  # noqa: E402
from query.promql.model import Matcher, labels_of  # noqa: E402

DAY_MS = 86_400_000
SCRAPE_MS = 15_000
BUCKETS = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")


def build(series: int, seed: int = 7) -> tuple[MemoryStore, int]:
    """A store with ``series`` counters, ``series`` gauges and histograms for ``series // 10`` jobs; samples."""
    rnd = np.random.default_rng(seed)
    st = MemoryStore()
    t = np.arange(0, DAY_MS + 1, SCRAPE_MS, dtype=np.int64)
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=100, help="counters and gauges each (100)")
    ap.add_argument("--rules", type=int, default=1000, help="rule expressions (1000)")
    ap.add_argument("--repeat", type=int, default=5, help="repetitions of the range query (5)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    st, samples = build(args.series)
    engine = Engine(st)
    exprs = rules(args.rules)
    now = DAY_MS
    load_s = time.perf_counter() - t0
    engine.instant(exprs[0], now)  # warm the store's arrays
    rules_ms = timed(lambda: [engine.instant(e, now) for e in exprs], 1)[0]
    sel = [Matcher.make("__name__", "=", "http_requests_total")]
    range_ms = timed(lambda: engine.range("rate(http_requests_total[5m])", 0, DAY_MS, 60_000), args.repeat)
    select_ms = timed(lambda: st.select(sel, 0, DAY_MS), args.repeat)
    steps = np.arange(0, DAY_MS + 1, 60_000, dtype=np.int64)

    def numpy_floor() -> None:
        for s in st.select(sel, 0, DAY_MS):
            lo = np.searchsorted(s.t, steps - 300_000, side="left")
            hi = np.searchsorted(s.t, steps, side="right") - 1
            ok = hi > lo
            _ = np.where(ok, (s.v[np.maximum(hi, 0)] - s.v[np.minimum(lo, s.v.size - 1)]) / 300.0, np.nan)

    floor_ms = timed(numpy_floor, args.repeat)
    result = {
        "benchmark": "promql", "samples": samples, "series": len(st), "load_s": round(load_s, 2),
        "rules": args.rules, "rules_total_ms": round(rules_ms, 1), "rules_goal_ms": 30_000,
        "range_steps": int(steps.size), "range_series": args.series,
        "range_p50_ms": round(statistics.median(range_ms), 1), "range_goal_ms": 500,
        "baseline_select_p50_ms": round(statistics.median(select_ms), 1),
        "baseline_numpy_rate_p50_ms": round(statistics.median(floor_ms), 1),
    }
    print(f"{'figure':<34}{'value':>12}")
    for k, v in result.items():
        print(f"{k:<34}{v!s:>12}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
