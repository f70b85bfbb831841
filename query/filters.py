"""Shared parsing of repeatable ``attr=key:value`` filters into parameterised SQL conditions."""

from __future__ import annotations

from typing import Any

from query.errors import BadRequest

MAX_ATTR_FILTERS = 16


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
    attrs: list[tuple[str, str]], maps: tuple[str, ...], params: dict[str, Any]
) -> list[str]:
    """``maps[0][k] = v OR maps[1][k] = v …`` for each filter; binds parameters into ``params``."""
    conds = []
    for i, (key, value) in enumerate(attrs):
        params[f"ak{i}"], params[f"av{i}"] = key, value
        alts = " OR ".join(f"{m}[{{ak{i}:String}}] = {{av{i}:String}}" for m in maps)
        conds.append(f"({alts})")
    return conds
