"""Shared parsing of repeatable ``attr=key:value`` filters into parameterised SQL conditions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from query.errors import BadRequest

MAX_ATTR_FILTERS = 16

TRACE_TIME = (
    "toDateTime(Timestamp) >= toDateTime(intDiv({start_ns:Int64}, 1000000000)) "
    "AND toDateTime(Timestamp) <= toDateTime(intDiv({end_ns:Int64}, 1000000000)) "
    "AND Timestamp >= fromUnixTimestamp64Nano({start_ns:Int64}) "
    "AND Timestamp <= fromUnixTimestamp64Nano({end_ns:Int64})"
)
"""Time-range condition for ``otel_traces`` (needs ``start_ns``/``end_ns`` params). The
``toDateTime(Timestamp)`` terms match the sorting key's own expression so the primary index prunes
granules inside each (ServiceName, SpanName) range, not only whole daily partitions."""


def parse_attrs(values: list[str] | None) -> list[tuple[str, str]]:
    out = []
    for raw in values or []:
        key, sep, value = raw.partition(":")
        if not sep or not key:
            raise BadRequest(f"attr filter {raw!r} must be key:value")
        out.append((key, value))
    if len(out) > MAX_ATTR_FILTERS:
        raise BadRequest(f"at most {MAX_ATTR_FILTERS} attr filters")
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
