"""Response types of ``/api/metrics/frontend`` and ``/api/metrics/frontend/pages`` (documented in ``/schema``)."""

from __future__ import annotations

from typing import Literal

import msgspec

from query.models import UNKNOWN, ReadMeta

Rating = Literal["good", "needs-improvement", "poor"]


class VitalPoint(msgspec.Struct, frozen=True):
    """One bucket: ``t`` its start (unix seconds), ``p75`` null without samples."""

    t: int
    p75: float | None
    samples: int


class VitalSummary(msgspec.Struct, frozen=True):
    """One Web Vital over the window: its p75 and rating, and how its page loads split by rating.

    ``p75`` is the 75th percentile of the page loads' final values (ms; CLS unitless), ``rating`` the p75's
    rating by web.dev's thresholds ``good_max``/``poor_above``; ``good``/``needs_improvement``/``poor`` count
    page loads by their own rating.
    """

    name: str
    p75: float | None
    rating: Rating | None
    samples: int
    good: int
    needs_improvement: int
    poor: int
    good_max: float
    poor_above: float
    series: list[VitalPoint] = []


class Segment(msgspec.Struct, frozen=True):
    """The vitals of one device class or connection type (``key`` '' when the browser did not say)."""

    key: str
    page_loads: int
    vitals: list[VitalSummary]


class FrontendMetrics(msgspec.Struct, frozen=True):
    """Web Vitals of the window: overall (with series), by device class and by connection type."""

    start_ns: int
    end_ns: int
    step_s: int
    page_loads: int
    js_errors: int
    vitals: list[VitalSummary]
    by_device: list[Segment]
    by_connection: list[Segment]
    meta: ReadMeta = UNKNOWN


class SlowView(msgspec.Struct, frozen=True):
    """The page load with the page's worst value of ``vital``, linked to its backend trace when known."""

    vital: str
    value: float
    url: str
    trace_id: str
    at_ns: int


class PageVitals(msgspec.Struct, frozen=True):
    """One page (route): its vitals, JS errors and its slowest page load."""

    route: str
    page_loads: int
    js_errors: int
    worst_rating: Rating | None
    vitals: list[VitalSummary]
    slowest: SlowView | None


class FrontendPages(msgspec.Struct, frozen=True):
    """Pages sorted by ``sort`` (worst first)."""

    start_ns: int
    end_ns: int
    sort: str
    pages: list[PageVitals]
    meta: ReadMeta = UNKNOWN
