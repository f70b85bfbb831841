"""SQL conditions shared by the query services: one time filter per table, and ``attr=key:value`` filters.

Each time filter needs the ``start_ns``/``end_ns`` parameters of :attr:`TimeRange.params`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts.otel_columns import Logs, Metrics, Traces
from query.errors import BadRequest

MAX_ATTR_FILTERS = 16
_START = "fromUnixTimestamp64Nano({start_ns:Int64})"
_END = "fromUnixTimestamp64Nano({end_ns:Int64})"


def traces_time(start: str = "start_ns", end: str = "end_ns") -> str:
    """Time condition for ``otel_traces``: the closed interval of the ns parameters ``start``..``end``.

    The ``toDateTime(Timestamp)`` terms match the sorting key's own expression so the primary index
    prunes granules inside each (ServiceName, SpanName) range, not only whole daily partitions.
    """
    ts = Traces.TIMESTAMP
    return (
        f"toDateTime({ts}) >= toDateTime(intDiv({{{start}:Int64}}, 1000000000)) "
        f"AND toDateTime({ts}) <= toDateTime(intDiv({{{end}:Int64}}, 1000000000)) "
        f"AND {ts} >= fromUnixTimestamp64Nano({{{start}:Int64}}) AND {ts} <= fromUnixTimestamp64Nano({{{end}:Int64}})"
    )


def logs_time() -> str:
    """Time condition for ``otel_logs`` (the ``TimestampTime`` term uses the primary key)."""
    ts = Logs.TIMESTAMP
    return f"{ts} >= {_START} AND {ts} <= {_END} AND {Logs.TIMESTAMP_TIME} >= toDateTime({_START})"


def metrics_time() -> str:
    """Time condition for every ``otel_metrics_<kind>`` table."""
    return f"{Metrics.TIME_UNIX} >= {_START} AND {Metrics.TIME_UNIX} <= {_END}"


def parse_attrs(values: list[str] | None) -> list[tuple[str, str]]:
    """``["k:v", …]`` → ``[("k", "v"), …]``; raises :class:`BadRequest` naming ``attr``."""
    out = []
    for raw in values or []:
        key, sep, value = raw.partition(":")
        if not sep or not key:
            raise BadRequest(f"filter {raw[:80]!r} must be key:value", "attr")
        out.append((key, value))
    if len(out) > MAX_ATTR_FILTERS:
        raise BadRequest(f"at most {MAX_ATTR_FILTERS} filters", "attr")
    return out


def attr_conditions(
    attrs: list[tuple[str, str]],
    maps: tuple[str, ...],
    params: dict[str, Any],
    skip: Callable[[str, str], bool] | None = None,
) -> list[str]:
    """``maps[0][k] = v OR maps[1][k] = v …`` for each filter; binds parameters into ``params``.

    ``skip(map, key)`` may leave out a map known not to hold ``key`` (each OR branch reads a whole
    map column, so dropping a branch that cannot match makes the scan cheaper, never different).
    """
    conds = []
    for i, (key, value) in enumerate(attrs):
        params[f"ak{i}"], params[f"av{i}"] = key, value
        use = [m for m in maps if not (skip and skip(m, key))] or [maps[0]]
        alts = " OR ".join(f"{m}[{{ak{i}:String}}] = {{av{i}:String}}" for m in use)
        conds.append(f"({alts})")
    return conds
