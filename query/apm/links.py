"""Reading the span-link rollup ``vigil_links_1m`` (:mod:`contracts.links`): figures that join two spans.

The service → service and external edges of the service map, the calling endpoints of slow statements
and the N+1 / DB-dominated insights read this table, which the linker (``storage.clickhouse.linker``)
keeps up to date in the background; nothing here joins raw spans. A window is widened to whole minutes
(rows are per minute of the anchor span: the request, or the calling span). The answers cover the
spans stored before :func:`linked_until` (the linker's last round, seconds behind at most a round's
interval).
"""

from __future__ import annotations

from contracts import links
from contracts.reader import TelemetryReader
from contracts.rollups import QUANTILE_LEVELS
from query.apm.window import ApmWindow

MINUTE_NS = 60_000_000_000
QUANTILES = f"quantilesTDigestMerge({QUANTILE_LEVELS})(Quantiles)"  # [p50, p90, p95, p99] ns


def source(window: ApmWindow, params: dict[str, object], kind: str, service: str | None = None,
           environment: str | None = None) -> str:
    """A parenthesised subquery of the ``kind`` rows of ``window``'s minutes.

    ``service``/``environment``: only the calling service's / that environment's rows. Binds the
    ``lk_*`` parameters into ``params``.
    """
    if kind not in links.KINDS:
        raise ValueError(f"unknown link kind {kind!r}")
    params["lk_kind"] = kind
    params["lk_a"] = window.start_ns // MINUTE_NS * 60
    params["lk_b"] = -(-(window.end_ns + 1) // MINUTE_NS) * 60
    conds = ["Kind = {lk_kind:String}", "Minute >= toDateTime({lk_a:UInt32})", "Minute < toDateTime({lk_b:UInt32})"]
    if service:
        params["lk_service"] = service
        conds.append("ServiceName = {lk_service:String}")
    if environment:
        params["lk_env"] = environment
        conds.append("Environment = {lk_env:String}")
    return f"(SELECT * FROM {links.TABLE} FINAL WHERE {' AND '.join(conds)})"


def linked_until(reader: TelemetryReader) -> int:
    """Unix ns before which every stored span is linked (the linker's last round); 0 before the first."""
    rows = reader.rows(links.LINKED_UNTIL)
    return int(rows[0]["at"]) * 1_000_000_000 if rows and int(rows[0]["n"]) else 0
