"""The promtool unit-test file format, decoded as ``yaml.UnmarshalStrict`` (go-yaml v2) decodes it in 2.42.

:func:`decode` turns the file's text into plain data of the shape of promtool's ``unitTestFile``
struct: every key present (absent ones get Go's zero value: ``""``, ``0``, ``[]``, ``{}``), durations in
ms, ``value`` as float, string fields as the scalar's source text (go-yaml keeps ``0x10`` as written).
Problems raise :class:`UnitTestFileError` with promtool's message:

* unknown keys and type mismatches, collected: ``yaml: unmarshal errors:`` then one
  ``  line N: field foo not found in type main.testGroup`` / ``  line N: cannot unmarshal !!str `abc`
  into float64`` line each;
* a bad duration, at once: ``not a valid duration string: "1x"``;
* YAML syntax: ``yaml: line N: …`` with PyYAML's wording (go-yaml's differs).
"""

from __future__ import annotations

from typing import Any

import yaml

from contracts.durations import parse_duration_ms

_STR, _DUR, _FLOAT = "string", "model.Duration", "float64"
_STRMAP = "map[string]string"
_SAMPLE = ("main.sample", {"labels": _STR, "value": _FLOAT})
_ALERT = ("main.alert", {"exp_labels": _STRMAP, "exp_annotations": _STRMAP})
_ALERT_CASE = ("main.alertTestCase", {"eval_time": _DUR, "alertname": _STR, "exp_alerts": ("list", _ALERT)})
_EXPR_CASE = ("main.promqlTestCase", {"expr": _STR, "eval_time": _DUR, "exp_samples": ("list", _SAMPLE)})
_SERIES = ("main.series", {"series": _STR, "values": _STR})
_GROUP = ("main.testGroup", {"interval": _DUR, "input_series": ("list", _SERIES),
                             "alert_rule_test": ("list", _ALERT_CASE), "promql_expr_test": ("list", _EXPR_CASE),
                             "external_labels": _STRMAP, "external_url": _STR, "name": _STR})
_FILE = ("main.unitTestFile", {"rule_files": ("list", _STR), "evaluation_interval": _DUR,
                               "group_eval_order": ("list", _STR), "tests": ("list", _GROUP)})
_SHORT_TAGS = {"tag:yaml.org,2002:" + k: "!!" + k for k in
               ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "binary")}


class UnitTestFileError(ValueError):
    """The file cannot be decoded; the message is promtool's."""


def go_quote(s: str) -> str:
    """Go's ``strconv.Quote`` (``%q``): printable characters as they are, others escaped."""
    out = ['"']
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(c)])
        elif c.isprintable():
            out.append(c)
        elif ord(c) < 0x80:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    out.append('"')
    return "".join(out)


def _tag(node: yaml.Node) -> str:
    return _SHORT_TAGS.get(node.tag, node.tag)


def _type_name(kind: Any) -> str:
    if isinstance(kind, str):
        return "labels.Labels" if kind == _STRMAP else kind
    if kind[0] == "list":
        return "[]" + _type_name(kind[1])
    return str(kind[0])


class _Decoder:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def bad(self, node: yaml.Node | None, kind: Any) -> None:
        if node is None:
            return
        what = f"{_tag(node)} `{node.value}`" if isinstance(node, yaml.ScalarNode) else _tag(node)
        self.errors.append(f"line {node.start_mark.line + 1}: cannot unmarshal {what} into {_type_name(kind)}")

    def value(self, node: yaml.Node | None, kind: Any) -> Any:
        null = node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"))
        if kind == _STR:
            if null:
                return ""
            if isinstance(node, yaml.ScalarNode):
                return str(node.value)
            self.bad(node, kind)
            return ""
        if kind == _DUR:
            return self.duration(node, null)
        if kind == _FLOAT:
            return self.number(node, null)
        if kind == _STRMAP:
            return self.strmap(node, null)
        if kind[0] == "list":
            if null:
                return []
            if not isinstance(node, yaml.SequenceNode):
                self.bad(node, kind)
                return []
            return [self.value(child, kind[1]) for child in node.value]
        return self.struct(node, null, kind)

    def duration(self, node: yaml.Node | None, null: bool) -> int:
        if null or node is None:
            return 0
        if not isinstance(node, yaml.ScalarNode):
            self.bad(node, _STR)
            return 0
        text = str(node.value)
        try:
            return parse_duration_ms(text) if text == text.strip() else parse_duration_ms("?")
        except ValueError:
            raise UnitTestFileError(f"not a valid duration string: {go_quote(text)}") from None

    def number(self, node: yaml.Node | None, null: bool) -> float:
        if null or node is None:
            return 0.0
        if isinstance(node, yaml.ScalarNode) and (node.tag.endswith(":int") or node.tag.endswith(":float")):
            return float(yaml.safe_load(f"!!float {node.value}")) if node.tag.endswith(":float") \
                else float(int(yaml.safe_load(f"!!int {node.value}")))
        self.bad(node, _FLOAT)
        return 0.0

    def strmap(self, node: yaml.Node | None, null: bool) -> dict[str, str]:
        if null or node is None:
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.bad(node, _STRMAP)
            return {}
        out: dict[str, str] = {}
        for k, v in node.value:
            out[str(k.value)] = self.value(v, _STR)
        return out

    def struct(self, node: yaml.Node | None, null: bool, kind: Any) -> dict[str, Any]:
        name, fields = kind
        given: dict[str, yaml.Node] = {}
        if not null and node is not None:
            if not isinstance(node, yaml.MappingNode):
                self.bad(node, kind)
            else:
                for k, v in node.value:
                    key = str(k.value)
                    if key not in fields:
                        self.errors.append(f"line {k.start_mark.line + 1}: field {key} not found in type {name}")
                    elif key in given:
                        self.errors.append(f'line {k.start_mark.line + 1}: field {key} already set in type {name}')
                    else:
                        given[key] = v
        return {key: self.value(given.get(key), sub) for key, sub in fields.items()}


def decode(text: str) -> dict[str, Any]:
    """The unit-test file's content (see the module docstring); raises :class:`UnitTestFileError`."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise UnitTestFileError(f"yaml: line {line}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise UnitTestFileError(f"yaml: {exc}") from None
    dec = _Decoder()
    doc = dec.value(root, _FILE)
    if dec.errors:
        raise UnitTestFileError("yaml: unmarshal errors:\n  " + "\n  ".join(dec.errors))
    return dict(doc)
