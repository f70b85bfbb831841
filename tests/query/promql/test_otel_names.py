"""OTel → Prometheus names: the Collector's pkg/translator/prometheus test cases and the spec's examples."""

from __future__ import annotations

import math

import pytest

from query.promql import otel_names as on


@pytest.mark.parametrize(("name", "unit", "kind", "mono", "want"), [
    ("system.filesystem.usage", "By", "gauge", False, "system_filesystem_usage_bytes"),
    ("system.io", "By", "sum", True, "system_io_bytes_total"),
    ("network_transmitted_bytes_total", "By", "sum", True, "network_transmitted_bytes_total"),
    ("system.filesystem.utilization", "1", "gauge", False, "system_filesystem_utilization_ratio"),
    ("disk.operations", "1", "sum", True, "disk_operations_total"),  # unit 1: _ratio on gauges only
    ("active.requests", "1", "sum", False, "active_requests"),
    ("process.cpu.time", "s", "sum", True, "process_cpu_time_seconds_total"),
    ("http.server.duration", "ms", "histogram", False, "http_server_duration_milliseconds"),
    ("system.processes.created", "{processes}", "sum", True, "system_processes_created_total"),
    ("requests", "{requests}/s", "gauge", False, "requests_per_second"),
    ("speed", "m/s", "gauge", False, "speed_meters_per_second"),
    ("throughput", "By/s", "gauge", False, "throughput_bytes_per_second"),
    ("memory.usage", "MiBy", "gauge", False, "memory_usage_mebibytes"),
    ("temperature", "Cel", "gauge", False, "temperature_celsius"),
    ("cpu.seconds", "s", "gauge", False, "cpu_seconds"),  # unit already a token of the name
    ("total.hits", "", "sum", True, "hits_total"),  # _total moved to the end
    ("sys.ratio.cpu", "1", "gauge", False, "sys_cpu_ratio"),
    ("foo  bar--baz..", "", "gauge", False, "foo_bar_baz"),  # invalid runs collapse to one _
    ("2xx.responses", "", "sum", False, "_2xx_responses"),
    ("weird", "furlongs", "gauge", False, "weird_furlongs"),  # unknown unit kept
    ("weird", "{x}/fortnight", "gauge", False, "weird_per_fortnight"),  # unknown per-unit kept
])
def test_metric_name(name: str, unit: str, kind: str, mono: bool, want: str) -> None:
    assert on.metric_name(name, unit, kind, mono) == want


def test_family_names() -> None:
    assert on.family_names("d_seconds", "histogram") == ("d_seconds_bucket", "d_seconds_sum", "d_seconds_count")
    assert on.family_names("rpc", "summary") == ("rpc", "rpc_sum", "rpc_count")
    assert on.family_names("g", "gauge") == ("g",)
    assert on.family_names("c_total", "sum") == ("c_total",)


@pytest.mark.parametrize(("key", "want"), [
    ("service.name", "service_name"),
    ("http.response.status_code", "http_response_status_code"),
    ("label:with:colons", "label_with_colons"),
    ("0label", "key_0label"),
    ("_label", "key_label"),
    ("__label", "__label"),
    ("a-b/c d", "a_b_c_d"),
    ("", ""),
])
def test_label_name(key: str, want: str) -> None:
    assert on.label_name(key) == want


def test_colliding_attributes_join_values_in_original_key_order() -> None:
    assert on.attribute_labels({"a_b": "2", "a.b": "1", "c": "3"}) == {"a_b": "1;2", "c": "3"}


def test_job_and_instance() -> None:
    assert on.job_instance({"service.name": "api", "service.namespace": "shop",
                            "service.instance.id": "pod-1"}) == ("shop/api", "pod-1")
    assert on.job_instance({"service.name": "api"}) == ("api", "")
    assert on.job_instance({}) == ("", "")


def test_format_float() -> None:
    assert [on.format_float(x) for x in (0.5, 1.0, 250.0, 1e6, 0.0001, math.inf, -math.inf, math.nan)] == [
        "0.5", "1", "250", "1000000", "0.0001", "+Inf", "-Inf", "NaN"]
