"""Vigil's client side: OpenTelemetry SDK setup, library instrumentation, the host agent and the demo shop.

Imports nothing of the server; it talks to Vigil only over OTLP and HTTP, like any third-party app.
``from instrumentation import configure_otel; configure_otel(service_name="checkout")`` is the
one-line setup (see :mod:`instrumentation.otel`).
"""

from instrumentation.frameworks import (
    instrument_asgi,
    instrument_httpx,
    instrument_psycopg,
    litestar_otel_config,
)
from instrumentation.otel import Otel, configure_otel

__all__ = ["Otel", "configure_otel", "instrument_asgi", "instrument_httpx", "instrument_psycopg",
           "litestar_otel_config"]
