"""The APM endpoints ``bench/query.py`` times: each at ``range=1h`` (goal p50 ≤ 200 ms) and ``range=7d`` (≤ 1 s).

Each entry is (name, path without the range, size function): the size function counts what the answer
holds, so an empty answer (a fast nothing) is a failure, not a pass. The bench store has spans only (no
metrics or logs), so endpoints over host or pool metrics are timed on spans-only data and may be
legitimately empty — they are listed with ``None`` as size function and only need HTTP 200.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from bench.harness import http_get

GOAL_1H_MS, GOAL_7D_MS = 200.0, 1000.0
Size = Callable[[dict[str, Any]], int] | None

ENDPOINTS: list[tuple[str, str, Size]] = [
    ("dashboard", "/api/dashboard", lambda d: d["api"]["totals"]["requests"]),
    ("api", "/api/metrics/api", lambda d: d["totals"]["requests"]),
    ("top_endpoints", "/api/metrics/api/top-endpoints", lambda d: len(d["endpoints"])),
    ("slow_requests", "/api/metrics/api/slow-requests?threshold_ms=100", lambda d: len(d["requests"])),
    ("database", "/api/metrics/database", lambda d: d["totals"]["executions"]),
    ("slow_queries", "/api/metrics/database/slow-queries?threshold_ms=10",
     lambda d: sum(len(q["endpoints"]) for q in d["queries"])),  # calling endpoints found too
    ("connection_stats", "/api/metrics/database/connection-stats", None),
    ("errors", "/api/metrics/errors", lambda d: int(d["occurrences"])),
    ("error_trends", "/api/metrics/errors/trends", lambda d: int(d["overall"]["total"])),
    ("error_critical", "/api/metrics/errors/critical", None),
    ("system", "/api/metrics/system", None),
    ("service_map", "/api/service-map", lambda d: len(d["edges"])),
    ("insights", "/api/insights/performance", None),
]


def paths() -> list[tuple[str, str, float, Size]]:
    """(name, path with range, goal ms, size) for every endpoint at 1 h and at 7 d."""
    out = []
    for name, path, size in ENDPOINTS:
        sep = "&" if "?" in path else "?"
        out.append((f"{name}_1h", f"{path}{sep}range=1h", GOAL_1H_MS, size))
        out.append((f"{name}_7d", f"{path}{sep}range=7d", GOAL_7D_MS, size))
    return out


def wait_linked(host: str, port: int, since_s: float, timeout_s: float = 600.0) -> float:
    """Wait until the server's span linker finished a round that began after ``since_s`` (unix s).

    Its first round backfills every minute of the store (the link rollup the service map, calling
    endpoints and N+1 insights read); timing before that would time a store still being linked.
    Returns the seconds waited.
    """
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        status, body = http_get(host, port, "/api/health")
        linker = json.loads(body).get("components", {}).get("columnar", {}).get("linker", {}) if status == 200 else {}
        if linker.get("linked_until_unix", 0) >= since_s:
            return time.monotonic() - began
        time.sleep(1.0)
    raise TimeoutError(f"the span linker did not finish a round in {timeout_s:.0f} s")
