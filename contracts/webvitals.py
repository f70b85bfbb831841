"""Browser RUM: Core Web Vitals thresholds and how RUM beacons are stored (as OTel log events).

Thresholds are web.dev's official ones (the ``web-vitals`` library's ``*Thresholds``): a value ``<= good``
is ``good``, ``> poor`` is ``poor``, otherwise ``needs-improvement``. Ratings are computed by Vigil, not
taken from the browser. Units: milliseconds, CLS unitless.

Storage schema — each beacon event becomes one ``otel_logs`` record of the page's service:

* resource: ``service.name`` (the snippet's ``data-service``), ``deployment.environment.name``
  (``data-env``), ``telemetry.sdk.name`` = ``vigil-rum``, ``telemetry.sdk.language`` = ``webjs``;
* ``EventName`` :data:`EVENT_VITAL` (severity INFO, body the vital's name) or :data:`EVENT_ERROR`
  (severity ERROR, body the message, with ``exception.type``/``exception.message``/``exception.stacktrace``
  so the error tracker groups browser errors like backend ones);
* ``TraceId``/``SpanId`` from the document's ``traceparent`` (``Server-Timing: traceparent;desc=…``),
  linking the page view to the backend request that served it;
* attributes :data:`ATTR` (page URL and route, navigation type, device class, connection type, session,
  the vital's name/value/delta/id/rating and its attribution).
"""

from __future__ import annotations

from typing import Final

EVENT_VITAL: Final = "browser.web_vital"
EVENT_ERROR: Final = "browser.error"
RATINGS: Final = ("good", "needs-improvement", "poor")
THRESHOLDS: Final[dict[str, tuple[float, float]]] = {
    "LCP": (2500.0, 4000.0),
    "INP": (200.0, 500.0),
    "CLS": (0.1, 0.25),
    "FCP": (1800.0, 3000.0),
    "TTFB": (800.0, 1800.0),
}
VITALS: Final = tuple(THRESHOLDS)


class ATTR:
    """Log attribute names of RUM events."""

    URL: Final = "url.full"
    PATH: Final = "url.path"
    ROUTE: Final = "page.route"
    NAVIGATION: Final = "browser.navigation_type"
    DEVICE: Final = "browser.device_class"
    CONNECTION: Final = "network.connection.effective_type"
    SESSION: Final = "session.id"
    USER_AGENT: Final = "user_agent.original"
    VITAL: Final = "web_vital.name"
    VALUE: Final = "web_vital.value"
    DELTA: Final = "web_vital.delta"
    ID: Final = "web_vital.id"
    RATING: Final = "web_vital.rating"
    ATTRIBUTION_PREFIX: Final = "web_vital.attribution."
    ERROR_KIND: Final = "browser.error.kind"  # "error" or "unhandledrejection"


def rating(vital: str, value: float) -> str:
    """``good``, ``needs-improvement`` or ``poor`` for ``value`` of ``vital`` (one of :data:`VITALS`)."""
    good, poor = THRESHOLDS[vital]
    if value <= good:
        return "good"
    return "poor" if value > poor else "needs-improvement"
