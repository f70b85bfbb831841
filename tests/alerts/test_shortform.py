"""Short-form alerting rules (``name`` + ``condition``) compile to PromQL the engine evaluates as documented."""

from __future__ import annotations

from pathlib import Path

import promql_parser
import pytest

from alerts.rulefile import Rule, load_rule_file
from alerts.ruletest import run_file
from alerts.shortform import INDICATORS, OPERATORS, compile_condition
from query.promql.derived import BOUNDS_S
from query.promql.engine import Engine
from query.promql.memstore import MemoryStore
from query.promql.model import Vector
from query.promql.otel_names import format_float, metric_name
from vigil.cli import main

T0 = 1_700_000_400_000  # a multiple of 5 minutes, in ms
T = T0 + 300_000  # evaluation time: the 5-minute window [T0, T] holds samples at both ends (no extrapolation)
MINUTES = [T0 + i * 60_000 for i in range(6)]


def _counter(store: MemoryStore, labels: dict[str, str], total: float) -> None:
    """A counter growing linearly from 0 at T0 to ``total`` at T, sampled every minute."""
    store.add_series(labels, [(t, total * i / 5) for i, t in enumerate(MINUTES)])


def _gauge(store: MemoryStore, labels: dict[str, str], value: float) -> None:
    store.add_series(labels, [(t, value) for t in MINUTES])


def _histogram(store: MemoryStore, family: str, service: str, durations_s: list[float]) -> None:
    for bound in [*BOUNDS_S, float("inf")]:
        count = sum(1 for d in durations_s if d <= bound)
        _counter(store, {"__name__": f"{family}_bucket", "service_name": service, "le": format_float(bound)}, count)
    _counter(store, {"__name__": f"{family}_count", "service_name": service}, len(durations_s))
    _counter(store, {"__name__": f"{family}_sum", "service_name": service}, sum(durations_s))


def _host(store: MemoryStore, host: str) -> dict[str, str]:
    """The agent's identity labels on one host, and its target_info."""
    ident = {"job": "vigil-agent", "instance": host, "service_name": "vigil-agent"}
    _gauge(store, {"__name__": "target_info", **ident, "host_name": host, "os_type": "linux"}, 1)
    return ident


@pytest.fixture(scope="module")
def engine() -> Engine:
    store = MemoryStore()
    # services: checkout 3 errors of 60 requests; search 0 errors of 30 requests (no errors series at all)
    http = {"service_name": "checkout", "http_route": "/pay", "http_request_method": "POST"}
    _counter(store, {"__name__": "vigil_http_server_requests_total", **http, "http_response_status_code": "200"}, 57)
    _counter(store, {"__name__": "vigil_http_server_requests_total", **http, "http_response_status_code": "500"}, 3)
    _counter(store, {"__name__": "vigil_http_server_errors_total", **http, "http_response_status_code": "500"}, 3)
    _counter(store, {"__name__": "vigil_http_server_requests_total", "service_name": "search"}, 30)
    # 100 requests: 90 at 50 ms, 10 at 200 ms -> p95 interpolated in (0.1, 0.25]: 0.1 + 0.15 * 5/10 = 175 ms
    _histogram(store, "vigil_http_server_duration_seconds", "checkout", [0.05] * 90 + [0.2] * 10)
    # 10 DB calls: 7 at 0.3 s, 1 at exactly 1 s (not slower), 2 at 3 s -> 2 slow;
    # p95 (rank 9.5) in (2.5, 5]: 2.5 + 2.5 * 1.5/2 = 4.375 s
    _histogram(store, "vigil_db_client_duration_seconds", "checkout", [0.3] * 7 + [1.0] + [3.0] * 2)

    cpu = metric_name("system.cpu.time", "s", "sum", monotonic=True)
    mem_usage, mem_limit = (metric_name(f"system.memory.{m}", "By", "sum") for m in ("usage", "limit"))
    fs_usage, fs_limit = (metric_name(f"system.filesystem.{m}", "By", "sum") for m in ("usage", "limit"))
    web = _host(store, "web-1")
    # 2 CPUs x 300 s: idle 60 + 120 of 600 s -> 70 % busy
    for n, modes in enumerate([{"idle": 60, "user": 200, "system": 40}, {"idle": 120, "user": 180}]):
        for mode, seconds in modes.items():
            _counter(store, {"__name__": cpu, **web, "cpu_mode": mode, "cpu_logical_number": str(n)}, seconds)
    # memory: used 3 of 4 GiB -> 75 %
    _gauge(store, {"__name__": mem_usage, **web, "system_memory_state": "used"}, 3 * 2**30)
    _gauge(store, {"__name__": mem_usage, **web, "system_memory_state": "free"}, 2**29)
    _gauge(store, {"__name__": mem_limit, **web}, 4 * 2**30)
    # disk: / 50 of 100, /data 90 of 100 (used 90 + free 8 + reserved 2) -> the fullest: 90 %
    for mount, states in (("/", {"used": 50, "free": 50}), ("/data", {"used": 90, "free": 8, "reserved": 2})):
        fs = {**web, "system_filesystem_mountpoint": mount, "system_device": "sda"}
        for state, value in states.items():
            _gauge(store, {"__name__": fs_usage, **fs, "system_filesystem_state": state}, value)
        _gauge(store, {"__name__": fs_limit, **fs}, 100)
    # a second host reporting no limits: memory used 1 of 1 + 3 -> 25 %; disk used 30 of 30 + 70 -> 30 %
    db = _host(store, "db-1")
    _gauge(store, {"__name__": mem_usage, **db, "system_memory_state": "used"}, 1)
    _gauge(store, {"__name__": mem_usage, **db, "system_memory_state": "free"}, 3)
    for state, value in (("used", 30), ("free", 70)):
        _gauge(store, {"__name__": fs_usage, **db, "system_filesystem_mountpoint": "/",
                       "system_filesystem_state": state}, value)
    return Engine(store)


def _values(engine: Engine, expr: str) -> dict[str, float]:
    """The instant result at T as {host_name or service_name: value}."""
    result = engine.instant(expr, T)
    assert isinstance(result, Vector)
    out: dict[str, float] = {}
    for s in result.series:
        labels = dict(s.labels)
        assert set(labels) <= {"host_name", "service_name"}, labels
        out[labels.get("host_name") or labels["service_name"]] = float(s.values[-1])
    return out


EXPECTED = {
    "cpu_usage": {"web-1": 70.0},
    "memory_usage": {"web-1": 75.0, "db-1": 25.0},
    "disk_usage": {"web-1": 90.0, "db-1": 30.0},
    "error_rate": {"checkout": 5.0, "search": 0.0},
    "availability": {"checkout": 95.0, "search": 100.0},
    "request_rate": {"checkout": 0.2, "search": 0.1},
    "response_time_p95": {"checkout": 175.0},
    "slow_queries": {"checkout": 2.0},
    "db_query_time": {"checkout": 4375.0},
}


def test_every_indicator_is_tested_and_parses() -> None:
    assert set(EXPECTED) == set(INDICATORS)
    for indicator in INDICATORS:
        for op in OPERATORS:
            promql_parser.parse(compile_condition(f"{indicator} {op} 80"))


@pytest.mark.parametrize("indicator", sorted(EXPECTED))
def test_indicator_values_are_exact(engine: Engine, indicator: str) -> None:
    got = _values(engine, INDICATORS[indicator][0])
    assert got == pytest.approx(EXPECTED[indicator], rel=1e-12, abs=1e-12)


def test_condition_filters_and_keeps_the_value(engine: Engine) -> None:
    assert _values(engine, compile_condition("error_rate > 4")) == pytest.approx({"checkout": 5.0})
    assert _values(engine, compile_condition("error_rate>=5.0")) == pytest.approx({"checkout": 5.0})
    assert _values(engine, compile_condition("error_rate > 5")) == {}
    assert _values(engine, compile_condition("availability < 99.9")) == pytest.approx({"checkout": 95.0})
    assert _values(engine, compile_condition("memory_usage != 75")) == pytest.approx({"db-1": 25.0})
    assert _values(engine, compile_condition("cpu_usage == 70")) == pytest.approx({"web-1": 70.0})
    assert _values(engine, compile_condition("slow_queries > 1.5e0")) == pytest.approx({"checkout": 2.0})


def test_compile_shape() -> None:
    assert compile_condition("  request_rate   <= .5 ") == f"({INDICATORS['request_rate'][0]}) <= 0.5"
    assert compile_condition("cpu_usage > 80").endswith(") > 80")


@pytest.mark.parametrize(("text", "message"), [
    ("cpu > 80", "unknown indicator 'cpu'"),
    ("cpu_usage => 80", "bad operator '=>'"),
    ("cpu_usage 80", "bad operator ''"),
    ("cpu_usage > eighty", "'eighty' is not a number"),
    ("cpu_usage > 80%", "'80%' is not a number"),
    ("> 80", "is not 'INDICATOR OP NUMBER'"),
])
def test_bad_conditions(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        compile_condition(text)


MIXED = """groups:
  - name: apm
    interval: 30s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - name: HighCPU
        condition: "cpu_usage > 80"
        duration: 5m
        severity: critical
        channels: [slack, email]
        labels:
          team: infra
        annotations:
          runbook: https://example.com/cpu
      - alert: Down
        expr: up == 0
        for: 1m
      - name: Errors
        condition: error_rate >= 2.5
        annotations:
          summary: "{{ $labels.service_name }} fails"
"""


def _load(tmp_path: Path, text: str) -> tuple[list[str], list[Rule]]:
    path = tmp_path / "rules.yml"
    path.write_text(text)
    groups, problems = load_rule_file(path)
    return problems, [r for g in groups for r in g.rules]


def test_mixed_file_loads(tmp_path: Path) -> None:
    problems, rules = _load(tmp_path, MIXED)
    assert problems == []
    record, cpu, down, errors = rules
    assert [r.kind for r in rules] == ["record", "alert", "alert", "alert"]
    assert (down.expr, down.for_ms) == ("up == 0", 60_000)
    assert cpu.name == "HighCPU"
    assert cpu.expr == compile_condition("cpu_usage > 80")
    assert cpu.for_ms == 300_000
    assert cpu.labels == {"team": "infra", "severity": "critical", "channels": "slack,email"}
    assert cpu.annotations == {"runbook": "https://example.com/cpu",
                                           "summary": "HighCPU: cpu_usage is {{ $value | humanize }} (> 80)"}
    assert cpu.line == 7
    assert errors.expr == compile_condition("error_rate >= 2.5")
    assert errors.for_ms == 0 and errors.labels == {}
    assert errors.annotations == {"summary": "{{ $labels.service_name }} fails"}


def _problems(tmp_path: Path, rule: str) -> list[str]:
    problems, rules = _load(tmp_path, f"groups:\n  - name: g\n    rules:\n{rule}")
    assert rules == []
    return [p.replace(str(tmp_path / "rules.yml"), "F") for p in problems]


def test_unknown_indicator_names_line_and_indicators(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path, "      - name: A\n        condition: cpu > 80\n")
    assert problem.startswith('F:5:20: group "g", rule 1, "A": unknown indicator \'cpu\'')
    assert problem.endswith("valid indicators: " + ", ".join(sorted(INDICATORS)))


@pytest.mark.parametrize(("rule", "expected"), [
    ("      - name: A\n        condition: cpu_usage =< 8\n", 'F:5:20: group "g", rule 1, "A": condition'),
    ("      - name: A\n        condition: cpu_usage > x\n", "F:5:20: group \"g\", rule 1, \"A\": condition "
     "'cpu_usage > x': 'x' is not a number"),
    ("      - name: A\n        condition: cpu_usage > 1\n        sevrity: x\n", "F:6: groups[0].rules[0]: "
     "unknown key 'sevrity'; known keys: annotations, channels, condition, duration, labels, name, severity"),
    ("      - name: A\n        condition: cpu_usage > 1\n        duration: 5 minutes\n",
     "F:6:19: group \"g\", rule 1, \"A\": not a valid duration string"),
    ("      - condition: cpu_usage > 1\n", "F:4: groups[0].rules[0]: missing key 'name'"),
    ("      - name: A\n        condition: cpu_usage > 1\n        channels: [a, 'b,c']\n",
     "F:6:23: group \"g\", rule 1, \"A\": channel names"),
    ("      - name: A\n        condition: cpu_usage > 1\n        severity: page\n        labels: {severity: x}\n",
     "F:6:19: group \"g\", rule 1, \"A\": label 'severity' is set both"),
    ("      - name: A\n        condition: cpu_usage > 1\n        labels: {__name__: x}\n",
     "F:6:28: group \"g\", rule 1, \"A\": invalid label name: __name__"),
])
def test_short_form_problems(tmp_path: Path, rule: str, expected: str) -> None:
    problems = _problems(tmp_path, rule)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems


def test_condition_with_expr_is_promtool_form(tmp_path: Path) -> None:
    problems = _problems(tmp_path, "      - alert: A\n        expr: up\n        condition: x > 1\n")
    assert len(problems) == 1 and "unknown key 'condition'" in problems[0]


def test_cli_check_accepts_mixed_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(MIXED)
    assert main(["rules", "check", str(path)]) == 0
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n  - name: g\n    rules:\n      - name: A\n        condition: latency > 1\n")
    assert main(["rules", "check", str(bad)]) == 1
    out = capsys.readouterr()
    assert f"{bad}:5:20: group \"g\", rule 1, \"A\": unknown indicator 'latency'" in out.out + out.err


RULES_UNDER_TEST = """groups:
  - name: apm
    rules:
      - name: Errors
        condition: error_rate > 4
        duration: 2m
        severity: page
        channels: [email, slack]
"""

UNIT_TEST = """rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'vigil_http_server_requests_total{service_name="checkout"}'
        values: '0+12x20'
      - series: 'vigil_http_server_errors_total{service_name="checkout"}'
        values: '0+0.6x20'
    alert_rule_test:
      - eval_time: 2m
        alertname: Errors
      - eval_time: 10m
        alertname: Errors
        exp_alerts:
          - exp_labels: {service_name: checkout, severity: page, channels: "email,slack"}
            exp_annotations: {summary: "Errors: error_rate is 5 (> 4)"}
"""


def test_rules_test_fires_short_form_alert(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(RULES_UNDER_TEST)
    (tmp_path / "test.yml").write_text(UNIT_TEST)
    result = run_file(tmp_path / "test.yml")
    assert (result.warnings, result.errors) == ([], [])


def test_doc_table_matches_the_code() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "alerting-short-form.md").read_text()
    for indicator, (promql, unit) in INDICATORS.items():
        assert f"| `{indicator}` | {unit} | `{promql}` |" in doc
