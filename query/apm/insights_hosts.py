"""The ``saturated_host`` insight: a host whose CPU, memory or disk is at its warning or critical threshold.

A finding per (host, resource) whose **current** utilisation (the latest bucket with data, from
:func:`query.apm.system.system_metrics`) is at or above the warning threshold; its severity is the
threshold state. Evidence: the current value, the window's peak and the thresholds.
"""

from __future__ import annotations

from query.apm.insights_db import finding_id
from query.apm.insights_models import Evidence, Insight
from query.apm.system_models import HostSystem, Utilization

ADVICE = {
    "cpu": "Find the busiest processes on the host (and the endpoints whose time grew with it); scale out or "
           "move work off the host.",
    "memory": "Check for a leak (memory growing without a matching load) and the largest processes; raise the "
              "host's memory or the services' limits.",
    "disk": "Free space (old logs, temp files, retention) or grow the filesystem before it fills up: writes fail "
            "at 100 %.",
}


def _peak(u: Utilization) -> float:
    return max((p.value for p in u.series if p.value is not None), default=u.current or 0.0)


def saturated_hosts(hosts: list[HostSystem]) -> list[Insight]:
    """One finding per host resource at warning or critical (see the module doc)."""
    out = []
    for h in hosts:
        for resource, u in (("cpu", h.cpu), ("memory", h.memory), ("disk", h.disk)):
            if u.current is None or u.state not in ("warning", "critical"):
                continue
            where = f" ({h.disk.mountpoint})" if resource == "disk" and h.disk.mountpoint else ""
            out.append(Insight(
                id=finding_id("saturated_host", h.host, resource), kind="saturated_host", severity=u.state,
                title=f"{h.host}: {resource}{where} at {u.current:.0%}", service="", subject=f"{h.host}:{resource}",
                evidence=[Evidence("current", u.current, "ratio"), Evidence("peak", _peak(u), "ratio"),
                          Evidence("warning_threshold", u.warning_percent / 100, "ratio"),
                          Evidence("critical_threshold", u.critical_percent / 100, "ratio")],
                trace_ids=[], endpoints=[], recommendation=ADVICE[resource]))
    return out
