"""Durations in Prometheus syntax (``1h30m``, ``500ms``, ``90s``, ``7d``), used by every setting and parameter.

Units, largest first, each at most once and in this order: ``y`` (365 d), ``w``, ``d``, ``h``, ``m``,
``s``, ``ms`` — as Prometheus' ``model.ParseDuration``. A bare ``0`` is zero.
"""

from __future__ import annotations

import re

_UNITS_MS = {"y": 365 * 86_400_000, "w": 7 * 86_400_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000,
             "s": 1000, "ms": 1}
_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
MAX_MS = (1 << 63) // 1_000_000 - 1  # what fits in int64 nanoseconds


class DurationError(ValueError):
    """Not a Prometheus duration; the message says what is accepted."""


def parse_duration_ms(text: str) -> int:
    """``1h30m`` → 5 400 000 (milliseconds). Raises :class:`DurationError` (empty, malformed, overflow)."""
    raw = text.strip()
    if raw == "0":
        return 0
    match = _DURATION.match(raw)
    if not raw or match is None:
        raise DurationError(f"{text[:40]!r} is not a duration; use e.g. 500ms, 90s, 15m, 1h30m, 7d")
    total = sum(int(n) * ms for n, ms in zip(match.groups(), _UNITS_MS.values(), strict=True) if n)
    if total > MAX_MS:
        raise DurationError(f"{text[:40]!r} is too long")
    return total


def parse_duration_s(text: str) -> float:
    """Like :func:`parse_duration_ms`, in seconds."""
    return parse_duration_ms(text) / 1000


def format_duration_ms(ms: int) -> str:
    """The shortest Prometheus spelling of ``ms`` milliseconds (``5400000`` → ``1h30m``; 0 → ``0s``)."""
    if ms == 0:
        return "0s"
    out = []
    for unit, size in _UNITS_MS.items():
        if unit == "w":
            continue  # Prometheus prints days, not weeks
        n, ms = divmod(ms, size)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)
