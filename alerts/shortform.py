"""The short form of alerting rules in Prometheus rule files: ``name`` + ``condition``, compiled to PromQL.

A rule of a group's ``rules:`` list that has ``condition`` and none of ``alert`` / ``record`` / ``expr``
is a short-form rule (:func:`alerts.rulefile.load_rule_file` hands it to :func:`short_rule`)::

    - name: HighCPU                 # required: the alert name
      condition: "cpu_usage > 80"   # required: INDICATOR OP NUMBER
      duration: 5m                  # optional: the rule's ``for``
      severity: critical            # optional: label severity
      channels: [email, slack]      # optional: label channels="email,slack" (the given order)
      labels: {team: web}           # optional: further labels
      annotations: {runbook: ...}   # optional; a summary is generated when it has none

Contracts:

* :func:`compile_condition` is pure: ``(<the indicator's PromQL>) OP NUMBER`` (a filtering comparison,
  so ``$value`` is the indicator's value); :data:`INDICATORS` holds each indicator's PromQL and unit.
  The PromQL reads only series Vigil's engine has: the span-derived ``vigil_http_server_*`` /
  ``vigil_db_client_*`` families of :mod:`query.promql.derived` (per ``service_name``) and the agent's
  ``system.*`` metrics named by :mod:`query.promql.otel_names`; ``host.name`` is a resource attribute,
  hence only on ``target_info`` (label ``host_name``), joined ``on (job, instance)``.
* :func:`short_rule` returns the :class:`~alerts.rulefile.Rule` (``kind == "alert"``) a promtool-form
  rule with that ``alert`` / ``expr`` / ``for`` / ``labels`` / ``annotations`` would give, or None after
  appending every problem as ``file:line:col: group "g", rule N, "name": message``.
"""

from __future__ import annotations

import re
from typing import Final

from alerts.rulefile import LABEL_NAME, Rule, _duration, _strings, _where
from contracts.yamlfile import Node, check_mapping
from query.promql.otel_names import format_float

SHORT_KEYS: Final[dict[str, object]] = {"name": str, "condition": str, "duration": object, "severity": str,
                                        "channels": list[str], "labels": dict[str, object],
                                        "annotations": dict[str, object]}
OPERATORS: Final = (">", ">=", "<", "<=", "==", "!=")

_HOST_JOIN = "* on (job, instance) group_left (host_name) target_info"
_REQ = "sum by (service_name) (rate(vigil_http_server_requests_total[5m]))"
_ERR = f"(sum by (service_name) (rate(vigil_http_server_errors_total[5m])) or 0 * {_REQ})"  # 0 without errors


def _host_ratio(metric: str, state_label: str, by: str) -> str:
    """``100 * max by (host_name)`` of used / (limit, else the sum of the states) per ``by`` and reporter."""
    used = f'sum by ({by}) ({metric}_usage_bytes{{{state_label}="used"}})'
    total = f"(sum by ({by}) ({metric}_limit_bytes) or sum by ({by}) ({metric}_usage_bytes))"
    return f"100 * max by (host_name) ({used} / {total} {_HOST_JOIN})"


def _p95_ms(family: str) -> str:
    return f"1000 * histogram_quantile(0.95, sum by (service_name, le) (rate({family}_bucket[5m])))"


def _cpu_rate(selector: str) -> str:
    return f"sum by (host_name) (rate({selector}[5m]) {_HOST_JOIN})"


INDICATORS: Final[dict[str, tuple[str, str]]] = {  # name -> (PromQL, unit)
    "cpu_usage": ("100 * (1 - " + _cpu_rate('system_cpu_time_seconds_total{cpu_mode="idle"}') + " / "
                  + _cpu_rate("system_cpu_time_seconds_total") + ")", "% busy per host (5m)"),
    "memory_usage": (_host_ratio("system_memory", "system_memory_state", "job, instance"), "% used per host"),
    "disk_usage": (_host_ratio("system_filesystem", "system_filesystem_state",
                               "job, instance, system_filesystem_mountpoint"),
                   "% used of the fullest filesystem per host"),
    "error_rate": (f"100 * {_ERR} / {_REQ}", "% of requests failing per service (5m)"),
    "response_time_p95": (_p95_ms("vigil_http_server_duration_seconds"), "ms, p95 per service (5m)"),
    "request_rate": (_REQ, "requests/s per service (5m)"),
    "availability": (f"100 * (1 - {_ERR} / {_REQ})", "% of requests not failing per service (5m)"),
    "slow_queries": ("sum by (service_name) (increase(vigil_db_client_duration_seconds_count[5m])) - "
                     'sum by (service_name) (increase(vigil_db_client_duration_seconds_bucket{le="1"}[5m]))',
                     "DB calls slower than 1 s per service (last 5m)"),
    "db_query_time": (_p95_ms("vigil_db_client_duration_seconds"), "ms, p95 DB call time per service (5m)"),
}

_CONDITION = re.compile(r"\s*(?P<ind>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>[<>=!]*)\s*(?P<num>.*?)\s*")
_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def _indicator_list() -> str:
    return ", ".join(sorted(INDICATORS))


def parse_condition(text: str) -> tuple[str, str, float]:
    """``(indicator, operator, number)`` of ``INDICATOR OP NUMBER``.

    Raises:
        ValueError: A message naming what is wrong (and the valid indicators or operators).
    """
    m = _CONDITION.fullmatch(text)
    if m is None:
        raise ValueError(f"condition {text!r} is not 'INDICATOR OP NUMBER' (e.g. 'cpu_usage > 80'); "
                         f"indicators: {_indicator_list()}")
    indicator, op, num = m["ind"], m["op"], m["num"]
    if indicator not in INDICATORS:
        raise ValueError(f"unknown indicator {indicator!r} in condition; valid indicators: {_indicator_list()}")
    if op not in OPERATORS:
        raise ValueError(f"condition {text!r}: bad operator {op!r}; use one of {' '.join(OPERATORS)}")
    if not _NUMBER.fullmatch(num):
        raise ValueError(f"condition {text!r}: {num!r} is not a number")
    return indicator, op, float(num)


def compile_condition(text: str) -> str:
    """The PromQL alert expression of a short-form ``condition`` such as ``"cpu_usage > 80"``.

    Args:
        text: ``INDICATOR OP NUMBER``; OP one of ``> >= < <= == !=``, NUMBER a decimal float.

    Returns:
        ``(<the indicator's PromQL>) OP NUMBER`` (see :data:`INDICATORS`).

    Raises:
        ValueError: The condition is malformed; the message names the valid indicators / operators.
    """
    indicator, op, number = parse_condition(text)
    return f"({INDICATORS[indicator][0]}) {op} {format_float(number)}"


def default_summary(name: str, condition: str) -> str:
    """``HighCPU: cpu_usage is {{ $value | humanize }} (> 80)`` for a valid ``condition``."""
    indicator, op, number = parse_condition(condition)
    return f"{name}: {indicator} is {{{{ $value | humanize }}}} ({op} {format_float(number)})"


def _channels(node: Node, ctx: str, problems: list[str]) -> str:
    names = [str(c.value) for c in node.value]
    for child in node.value:
        if not str(child.value) or "," in str(child.value):
            problems.append(f"{_where(child)}: {ctx}: channel names must be non-empty and without ','")
    return ",".join(names)


def short_rule(node: Node, group: str, index: int, problems: list[str]) -> Rule | None:
    """The alerting :class:`Rule` of the short-form rule mapping ``node`` (rule ``index`` of ``group``).

    Args:
        node: The rule's mapping (it has ``condition``).
        group: The group's name, for messages.
        index: The rule's 1-based position in the group, for messages.
        problems: Where every problem is appended (``file:line:col: group "g", rule N, "name": ...``).

    Returns:
        The rule, or None when there was any problem.
    """
    before = len(problems)
    keys = check_mapping(node, SHORT_KEYS, problems, required=("name", "condition"))
    name = str(keys["name"].value) if "name" in keys else ""
    ctx = f'group "{group}", rule {index}' + (f', "{name}"' if name else "")
    if "name" in keys and not name.strip():
        problems.append(f"{_where(keys['name'])}: {ctx}: 'name' must not be empty")
    expr = summary = ""
    cond = keys.get("condition")
    if cond is not None:
        try:
            expr, summary = compile_condition(cond.value), default_summary(name, cond.value)
        except ValueError as exc:
            problems.append(f"{_where(cond)}: {ctx}: {exc}")
    for_ms = _duration(keys["duration"], ctx, problems) if "duration" in keys else 0
    labels = _strings(keys.get("labels"), "label", LABEL_NAME, ctx, problems)
    annotations = _strings(keys.get("annotations"), "annotation", LABEL_NAME, ctx, problems)
    own = {"severity": str(keys["severity"].value)} if "severity" in keys else {}
    if "channels" in keys:
        own["channels"] = _channels(keys["channels"], ctx, problems)
    for label, value in own.items():
        if label in labels and labels[label] != value:
            problems.append(f"{_where(keys[label])}: {ctx}: label {label!r} is set both by '{label}' and 'labels'")
        labels[label] = value
    annotations.setdefault("summary", summary)
    if len(problems) > before:
        return None
    return Rule("alert", name, expr, for_ms, 0, labels, annotations, node.mark.line)
