"""Prometheus rule files (the ``rulefmt`` YAML of Prometheus 2.42): loading and checking.

:func:`load_rule_file` reads one file into :class:`RuleGroup` values and the list of problems, each
``file:line:col: message`` (the position of the offending key or value), checking what ``promtool check
rules`` 2.42 checks:

* the YAML itself, unknown keys (promtool: strict unmarshalling), types;
* groups: a non-empty, unique ``name``; ``interval`` a Prometheus duration; ``limit`` an integer;
* rules: exactly one of ``record`` / ``alert``; ``expr`` present and valid PromQL (the parser's message
  is kept); ``record`` a valid metric name; ``for`` / ``keep_firing_for`` / ``annotations`` only on
  alerting rules; label names valid and not ``__name__``; annotation names valid; durations valid.

A rule with ``condition`` and none of ``record`` / ``alert`` / ``expr`` is Vigil's short form
(``name`` + ``condition: "cpu_usage > 80"``), compiled to an alerting rule by :mod:`alerts.shortform`.

Not checked yet: the Go-template syntax of labels and annotations beyond balanced ``{{ }}``
(promtool parses them with Go's text/template). A file with problems yields no groups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from contracts.yamlfile import Node, check_mapping, load_yaml
from query.promql.exprtest import duration_ms
from query.promql.model import PromQLError
from query.promql.parse import parse

METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
GROUP_KEYS: dict[str, object] = {"name": str, "interval": object, "limit": int, "rules": list}
RULE_KEYS: dict[str, object] = {"record": str, "alert": str, "expr": object, "for": object,
                                "keep_firing_for": object, "labels": dict[str, object],
                                "annotations": dict[str, object]}


@dataclass(frozen=True)
class Rule:
    """One recording (``kind == "record"``) or alerting (``"alert"``) rule."""

    kind: str
    name: str
    expr: str
    for_ms: int = 0
    keep_firing_for_ms: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True)
class RuleGroup:
    """A rule group: evaluated every ``interval_ms`` (0: the global evaluation interval)."""

    name: str
    file: str
    rules: list[Rule]
    interval_ms: int = 0
    limit: int = 0


def _where(node: Node) -> str:
    m = node.mark
    return f"{m.file}:{m.line}:{m.column}" if m.column else f"{m.file}:{m.line}"


def _duration(node: Node, what: str, problems: list[str]) -> int:
    try:
        return duration_ms(node.value)
    except ValueError:
        problems.append(f"{_where(node)}: {what}: not a valid duration string: {str(node.value)!r}")
        return 0


def _strings(node: Node | None, what: str, name_re: re.Pattern[str], ctx: str, problems: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    if node is None or not isinstance(node.value, dict):
        return out
    for key, child in node.value.items():
        if not name_re.match(key) or (what == "label" and key == "__name__"):
            problems.append(f"{_where(child)}: {ctx}: invalid {what} name: {key}")
        value = child.value
        if not isinstance(value, str):
            if isinstance(value, bool | int | float):
                value = str(value).lower() if isinstance(value, bool) else str(value)
            else:
                problems.append(f"{_where(child)}: {ctx}: {what} {key!r} must be a string")
                continue
        if value.count("{{") != value.count("}}"):
            problems.append(f"{_where(child)}: {ctx}: {what} {key!r}: unbalanced template delimiters")
        out[key] = value
    return out


def _rule(node: Node, group: str, index: int, problems: list[str]) -> Rule | None:
    if isinstance(node.value, dict) and "condition" in node.value and not {"alert", "record", "expr"} & set(node.value):
        from alerts.shortform import short_rule  # the short form (``name`` + ``condition``); imports this module

        return short_rule(node, group, index, problems)
    keys = check_mapping(node, RULE_KEYS, problems)
    record, alert = keys.get("record"), keys.get("alert")
    name_node = record or alert
    name = str(name_node.value) if name_node is not None else ""
    ctx = f'group "{group}", rule {index}' + (f', "{name}"' if name else "")
    before = len(problems)
    if record is not None and alert is not None:
        problems.append(f"{_where(node)}: {ctx}: only one of 'record' and 'alert' must be set")
    if record is None and alert is None:
        problems.append(f"{_where(node)}: {ctx}: one of 'record' or 'alert' must be set")
    expr_node = keys.get("expr")
    expr = "" if expr_node is None or expr_node.value is None else str(expr_node.value)
    if expr_node is None or not expr.strip():
        problems.append(f"{_where(node)}: {ctx}: field 'expr' must be set in rule")
    else:
        try:
            parse(expr)
        except PromQLError as exc:
            problems.append(f"{_where(expr_node)}: {ctx}: could not parse expression: {exc.message}")
    if record is not None:
        for field_name in ("annotations", "for", "keep_firing_for"):
            if field_name in keys:
                problems.append(f"{_where(keys[field_name])}: {ctx}: invalid field '{field_name}' in recording rule")
        if not METRIC_NAME.match(name):
            problems.append(f"{_where(record)}: {ctx}: invalid recording rule name: {name}")
    for_ms = _duration(keys["for"], ctx, problems) if "for" in keys else 0
    keep_ms = _duration(keys["keep_firing_for"], ctx, problems) if "keep_firing_for" in keys else 0
    labels = _strings(keys.get("labels"), "label", LABEL_NAME, ctx, problems)
    annotations = _strings(keys.get("annotations"), "annotation", LABEL_NAME, ctx, problems)
    if len(problems) > before:
        return None
    return Rule("record" if record is not None else "alert", name, expr, for_ms, keep_ms, labels, annotations,
                node.mark.line)


def _group(node: Node, seen: dict[str, int], problems: list[str]) -> RuleGroup | None:
    keys = check_mapping(node, GROUP_KEYS, problems, required=("name",))
    name_node = keys.get("name")
    name = str(name_node.value) if name_node is not None else ""
    if name_node is not None and not name:
        problems.append(f"{_where(name_node)}: Groupname must not be empty")
    elif name in seen:
        problems.append(f'{_where(name_node or node)}: groupname: "{name}" is repeated in the same file '
                        f"(first at line {seen[name]})")
    else:
        seen[name] = node.mark.line
    interval = _duration(keys["interval"], f'group "{name}": interval', problems) if "interval" in keys else 0
    rules: list[Rule] = []
    rules_node = keys.get("rules")
    for i, child in enumerate(rules_node.value if rules_node is not None else [], start=1):
        rule = _rule(child, name, i, problems)
        if rule is not None:
            rules.append(rule)
    limit_node = keys.get("limit")
    limit = int(limit_node.value) if limit_node is not None else 0
    return RuleGroup(name, node.mark.file, rules, interval, limit)


def load_rule_file(path: str | Path) -> tuple[list[RuleGroup], list[str]]:
    """The groups of a rule file and every problem found (no groups when there is any problem)."""
    problems: list[str] = []
    top = check_mapping(load_yaml(path, problems), {"groups": list}, problems)
    seen: dict[str, int] = {}
    groups: list[RuleGroup] = []
    groups_node = top.get("groups")
    for child in groups_node.value if groups_node is not None else []:
        g = _group(child, seen, problems)
        if g is not None:
            groups.append(g)
    return ([] if problems else groups), problems


def rule_count(groups: list[RuleGroup]) -> int:
    """The number of rules in ``groups``."""
    return sum(len(g.rules) for g in groups)


