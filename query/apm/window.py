"""The time window of every APM endpoint: ``range=15m|1h|6h|24h|7d`` or ``start``/``end``, and its bucket step.

APM answers are bucketed series, so the range is one of :data:`RANGES` (each with a fixed step that
gives 30–170 buckets), or an explicit ``start``/``end`` whose step is chosen the same way
(:func:`step_for`). Errors name the parameter (``range``, ``start``, ``end``). The comparison window
(:meth:`ApmWindow.previous`) is the same length immediately before, for "change vs previous" figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar.di import Provide
from litestar.params import Parameter

from query.errors import BadRequest
from query.timerange import NS, TimeRange, resolve

# range → bucket step in seconds
RANGES: dict[str, int] = {"15m": 15, "1h": 60, "6h": 300, "24h": 900, "7d": 3600}
STEPS_S = (15, 60, 300, 900, 3600, 6 * 3600, 86400)
MAX_BUCKETS = 200


@dataclass(frozen=True)
class ApmWindow:
    """A closed interval of unix ns and the bucket step (seconds) its series use."""

    start_ns: int
    end_ns: int
    step_s: int

    @property
    def range(self) -> TimeRange:
        """The window as a :class:`TimeRange`."""
        return TimeRange(self.start_ns, self.end_ns)

    @property
    def params(self) -> dict[str, int]:
        """SQL parameters ``start_ns``, ``end_ns`` and ``step_s``."""
        return {"start_ns": self.start_ns, "end_ns": self.end_ns, "step_s": self.step_s}

    @property
    def seconds(self) -> float:
        """The window's length in seconds."""
        return (self.end_ns - self.start_ns) / NS

    def previous(self) -> ApmWindow:
        """The window of the same length that ends where this one starts."""
        length = self.end_ns - self.start_ns
        return ApmWindow(self.start_ns - length, self.start_ns, self.step_s)

    def bucket_starts_s(self) -> list[int]:
        """Every bucket's start (unix seconds, aligned to the step) overlapping the window."""
        first = (self.start_ns // NS) // self.step_s * self.step_s
        return list(range(first, self.end_ns // NS + 1, self.step_s))


def step_for(seconds: float) -> int:
    """The smallest step of :data:`STEPS_S` giving at most :data:`MAX_BUCKETS` buckets."""
    for step in STEPS_S:
        if seconds / step <= MAX_BUCKETS:
            return step
    return STEPS_S[-1]


def resolve_window(start: str | None, end: str | None, range_: str | None) -> ApmWindow:
    """The window of the request parameters; raises :class:`BadRequest` naming the parameter at fault."""
    if range_ is not None and range_ not in RANGES:
        raise BadRequest(f"{range_[:20]!r} is not one of {', '.join(RANGES)}", "range")
    if range_ is not None and start is not None:
        raise BadRequest("give either range or start (with end), not both", "range")
    tr = resolve(start, end, range_ or "1h")
    if tr.start_ns == tr.end_ns:
        raise BadRequest("must be before end", "start")
    step = RANGES[range_] if range_ is not None else step_for((tr.end_ns - tr.start_ns) / NS)
    return ApmWindow(tr.start_ns, tr.end_ns, step)


def provide_window(
    start: Annotated[str | None, Parameter(description="RFC 3339 or unix seconds (with end)")] = None,
    end: Annotated[str | None, Parameter(description="RFC 3339 or unix seconds (default: now)")] = None,
    range_: Annotated[str | None, Parameter(query="range", description="15m, 1h, 6h, 24h or 7d (default 1h)")] = None,
) -> ApmWindow:
    """Litestar dependency: the request's :class:`ApmWindow`."""
    return resolve_window(start, end, range_)


WINDOW = {"window": Provide(provide_window, sync_to_thread=False)}
