"""Jaeger's query parameters, parsed as ``query_parser.go`` of jaegertracing/jaeger does.

``start``/``end`` are unix microseconds (default: now - ``lookback`` … now); ``minDuration``/
``maxDuration`` are Go durations (``1.2s``, ``100ms``, ``1h30m``, units ns, us/µs, ms, s, m, h);
``tag=key:value`` (repeatable; the value may hold ``:``) and ``tags={"key":"value"}`` (JSON, repeatable)
merge into one filter map; ``limit`` is a positive integer (default 20, Jaeger UI's); the dependency
endpoint's ``endTs`` and ``lookback`` are milliseconds. Every error is :class:`~query.errors.BadRequest`
naming the parameter.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field

from query.errors import BadRequest

NS_PER = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
          "m": 60_000_000_000, "h": 3_600_000_000_000, "d": 86_400_000_000_000}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)")
_HEX = re.compile(r"^[0-9a-fA-F]{1,32}$")
DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
DEFAULT_LOOKBACK_NS = 2 * 86_400_000_000_000  # Jaeger's default trace query lookback: 2 days
DEPENDENCY_LOOKBACK_MS = 86_400_000  # defaultDependencyLookbackDuration: 24h
SPAN_KINDS = {"": "", "unspecified": "Unspecified", "internal": "Internal", "server": "Server",
              "client": "Client", "producer": "Producer", "consumer": "Consumer"}


def parse_duration_ns(value: str, parameter: str) -> int:
    """A Go duration (``1.2s``, ``1h30m``; ``d`` for days as Jaeger UI's lookback uses) in ns."""
    text = value.strip()
    if text == "0":
        return 0
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * NS_PER[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise BadRequest(f"unable to parse {value[:40]!r} as a duration (e.g. 1.2s, 100ms, 1h30m)", parameter)
    return round(total)


def _int(value: str, parameter: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"unable to parse {value[:40]!r} as an integer", parameter) from None


def parse_trace_id(value: str, parameter: str = "traceID") -> str:
    """1–32 hex digits (Jaeger accepts the short form) → Vigil's 32 lowercase hex digits."""
    if not _HEX.match(value):
        raise BadRequest(f"{value[:80]!r} is not a trace id (1 to 32 hex digits)", parameter)
    return value.lower().rjust(32, "0")


def parse_span_kind(value: str | None) -> str | None:
    """Jaeger's ``spanKind`` → the stored SpanKind (None: any kind)."""
    if not value:
        return None
    try:
        return SPAN_KINDS[value.lower()]
    except KeyError:
        raise BadRequest(f"{value[:40]!r}: use one of {', '.join(k for k in SPAN_KINDS if k)}",
                         "spanKind") from None


def parse_tags(simple: list[str], as_json: list[str]) -> dict[str, str]:
    """``tag=k:v`` and ``tags={"k":"v"}`` merged (JSON last, as Jaeger does)."""
    out: dict[str, str] = {}
    for raw in simple:
        key, sep, value = raw.partition(":")
        if not sep or not key:
            raise BadRequest(f"malformed {raw[:80]!r}, expecting key:value", "tag")
        out[key] = value
    for raw in as_json:
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise BadRequest("cannot unmarshal JSON: expecting an object of strings", "tags") from None
        if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
            raise BadRequest("expecting a JSON object of string values", "tags")
        out.update(parsed)
    return out


@dataclass(frozen=True)
class TraceSearch:
    """A parsed ``/jaeger/api/traces`` search (times in unix ns)."""

    start_ns: int
    end_ns: int
    service: str | None = None
    operation: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    limit: int = DEFAULT_LIMIT


def _window(start: str | None, end: str | None, lookback: str | None) -> tuple[int, int]:
    end_ns = _int(end, "end") * 1000 if end else time.time_ns()
    if start:
        start_ns = _int(start, "start") * 1000
    elif lookback and lookback != "custom":
        start_ns = end_ns - parse_duration_ns(lookback, "lookback")
    else:
        start_ns = end_ns - DEFAULT_LOOKBACK_NS
    if start_ns > end_ns:
        raise BadRequest("must not be after end", "start")
    return start_ns, end_ns


def trace_search(
    *, service: str | None, operation: str | None, tag: list[str], tags: list[str], min_duration: str | None,
    max_duration: str | None, start: str | None, end: str | None, limit: str | None, lookback: str | None,
) -> TraceSearch:
    """Every search parameter checked (see the module doc); ``maxDuration`` must be ≥ ``minDuration``."""
    start_ns, end_ns = _window(start, end, lookback)
    lo = parse_duration_ns(min_duration, "minDuration") if min_duration else None
    hi = parse_duration_ns(max_duration, "maxDuration") if max_duration else None
    if lo is not None and hi is not None and hi < lo:
        raise BadRequest("'maxDuration' should be greater than 'minDuration'", "maxDuration")
    n = _int(limit, "limit") if limit else DEFAULT_LIMIT
    if not 1 <= n <= MAX_LIMIT:
        raise BadRequest(f"must be between 1 and {MAX_LIMIT}", "limit")
    return TraceSearch(start_ns, end_ns, service or None, operation or None, parse_tags(tag, tags), lo, hi, n)


def dependency_window(end_ts: str | None, lookback: str | None) -> tuple[int, int]:
    """(start_ns, end_ns) of ``endTs`` (unix ms, default now) and ``lookback`` (ms, default 24h)."""
    end_ns = _int(end_ts, "endTs") * 1_000_000 if end_ts else time.time_ns()
    back = _int(lookback, "lookback") if lookback else DEPENDENCY_LOOKBACK_MS
    if back <= 0:
        raise BadRequest("must be a positive number of milliseconds", "lookback")
    return end_ns - back * 1_000_000, end_ns
