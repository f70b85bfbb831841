"""``configure_otel`` in a real process exporting to a real Vigil: traces, metrics, logs with trace context."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from typing import Any

import httpx
import pytest

from instrumentation.otel import _protocol, _signal_endpoint
from tests.demo_fixture import DemoData

APP = textwrap.dedent("""
    import json, logging, sys
    from opentelemetry import metrics, propagate, trace
    from instrumentation import configure_otel

    service, protocol, endpoint = sys.argv[1], sys.argv[2], sys.argv[3] or None
    otel = configure_otel(service, protocol=protocol, endpoint=endpoint, metric_interval_s=0.5,
                          resource_attributes={"deployment.environment.name": "test"})
    tracer = trace.get_tracer("app")
    counter = metrics.get_meter("app").create_counter("app.jobs", unit="{job}")
    with tracer.start_as_current_span("work") as span:
        logging.getLogger("app").warning("inside the span")
        counter.add(3, {"job.kind": "import"})
        carrier = {}
        propagate.inject(carrier)
        ctx = span.get_span_context()
    logging.getLogger("app").debug("below the bridged level")
    otel.shutdown()
    print(json.dumps({"trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}", "carrier": carrier}))
""")


def _run_app(service: str, protocol: str, endpoint: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    full_env.update(env or {})
    out = subprocess.run([sys.executable, "-c", APP, service, protocol, endpoint], env=full_env,
                         capture_output=True, text=True, timeout=60, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _poll(url: str, params: dict[str, Any], key: str, timeout: float = 20.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = list(httpx.get(url, params=params, timeout=10).json().get(key, []))
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.3)


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_traces_metrics_and_trace_linked_logs_reach_vigil(demo: DemoData, protocol: str) -> None:
    vigil = demo.vigil
    service = f"app-{uuid.uuid4().hex[:8]}"
    if protocol == "grpc":  # explicit endpoint argument
        ids = _run_app(service, protocol, f"http://{vigil.otlp_grpc}")
    else:  # the standard environment variables only
        ids = _run_app(service, protocol, "", {"OTEL_EXPORTER_OTLP_ENDPOINT": vigil.otlp_http})
    version, trace_id, span_id, flags = ids["carrier"]["traceparent"].split("-")
    assert (version, trace_id, span_id) == ("00", ids["trace_id"], ids["span_id"])
    assert int(flags, 16) & 0x01, "sampled"  # the SDK also sets W3C level 2's random-trace-id bit (0x02)

    spans = httpx.get(f"{vigil.api}/api/traces/{ids['trace_id']}", timeout=10).json()["spans"]
    assert [(s["name"], s["service_name"]) for s in spans] == [("work", service)]
    assert spans[0]["resource_attributes"]["deployment.environment.name"] == "test"

    logs = _poll(f"{vigil.api}/api/logs/", {"service": service, "range": "1h"}, "logs")
    assert [(r["body"], r["severity_text"], r["trace_id"], r["span_id"]) for r in logs] == [
        ("inside the span", "WARN", ids["trace_id"], ids["span_id"])]

    points = _poll(f"{vigil.api}/api/metrics/points", {"name": "app.jobs", "service": service, "range": "1h"},
                   "points")
    assert points and points[0]["value"] == 3 and points[0]["attributes"] == {"job.kind": "import"}


def test_protocol_and_endpoint_resolution() -> None:
    assert _protocol(None) in ("http/protobuf", "grpc")
    assert _protocol("grpc") == "grpc"
    with pytest.raises(ValueError, match="'http/json' is not supported"):
        _protocol("http/json")
    assert _signal_endpoint("http://h:4318/", "traces", "http/protobuf") == "http://h:4318/v1/traces"
    assert _signal_endpoint("http://h:4318", "logs", "http/protobuf") == "http://h:4318/v1/logs"
    assert _signal_endpoint("http://h:4317", "metrics", "grpc") == "http://h:4317"
    assert _signal_endpoint(None, "traces", "grpc") is None


def test_unsupported_protocol_env_var_is_a_clear_error() -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
           "OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"}
    out = subprocess.run([sys.executable, "-c", "from instrumentation import configure_otel; configure_otel('x')"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "OTLP protocol 'thrift' is not supported" in out.stderr
