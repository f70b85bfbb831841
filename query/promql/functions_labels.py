"""PromQL ``label_replace`` and ``label_join`` with 2.42 semantics.

Contracts:

* Both keep ``__name__`` and the values; the output label set of a series is the same at every step.
* ``label_replace(v, dst, replacement, src, regex)``: ``regex`` is fully anchored RE2; when it matches
  the value of ``src`` (``""`` if absent), ``dst`` is set to ``replacement`` expanded as Go's
  ``Regexp.ExpandString`` does (``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``; an unknown group is
  empty; a malformed reference is kept literally) and removed when the expansion is empty; no match
  leaves the series unchanged. Errors (raised even for an empty vector, as 2.42 checks them on each
  evaluation): "invalid regular expression in label_replace(): <regex>", then "invalid destination
  label name in label_replace(): <dst>".
* ``label_join(v, dst, sep, src...)``: ``dst`` becomes the ``src`` values joined by ``sep``, removed
  when that is empty. Errors: "invalid source label name in label_join(): <src>" (sources in order),
  then "invalid destination label name in label_join(): <dst>".
* Two series given one label set at the same step: "vector cannot contain metrics with the same
  labelset".
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

import re2

from query.promql.functions_common import arg_string, arg_vector, assemble, valid_label_name
from query.promql.model import Labels, PromQLError, Steps, Value, get_label, set_label


def _name_char(c: str) -> bool:
    # Go's expand: unicode.IsLetter, unicode.IsDigit (category Nd) or '_'.
    return c == "_" or c.isalpha() or unicodedata.category(c) == "Nd"


def _extract(tpl: str) -> tuple[str, int, str] | None:
    """Go's ``regexp.extract``: ``(name, number or -1, rest)`` of a reference after ``$``, None if malformed."""
    brace = tpl.startswith("{")
    s = tpl[1:] if brace else tpl
    i = 0
    while i < len(s) and _name_char(s[i]):
        i += 1
    if i == 0:
        return None
    name = s[:i]
    if brace:
        if i >= len(s) or s[i] != "}":
            return None
        i += 1
    num = 0
    for c in name:
        if not ("0" <= c <= "9") or num >= 100_000_000:
            num = -1
            break
        num = num * 10 + ord(c) - ord("0")
    if name[0] == "0" and len(name) > 1:
        num = -1
    return name, num, s[i:]


def expand(template: str, src: str, spans: list[tuple[int, int]], group_index: dict[str, int]) -> str:
    """``template`` with references to the groups at ``spans`` of ``src`` replaced (Go's ``ExpandString``)."""
    out: list[str] = []

    def group(i: int) -> str:
        if i < len(spans) and spans[i][0] >= 0:
            return src[spans[i][0]:spans[i][1]]
        return ""

    while True:
        before, dollar, after = template.partition("$")
        if not dollar:
            break
        out.append(before)
        template = after
        if template.startswith("$"):
            out.append("$")
            template = template[1:]
            continue
        ref = _extract(template)
        if ref is None:
            out.append("$")
            continue
        name, num, template = ref
        if num >= 0:
            out.append(group(num))
        elif name in group_index:
            out.append(group(group_index[name]))
    out.append(template)
    return "".join(out)


def fn_label_replace(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
    """``label_replace(v, dst, replacement, src, regex)``."""
    vec = arg_vector(args, 0)
    dst, repl, src, regex = (arg_string(args, i) for i in range(1, 5))
    try:
        rx = re2.compile(f"^(?:{regex})$")
    except re2.error as exc:
        raise PromQLError(f"invalid regular expression in label_replace(): {regex}", "execution") from exc
    if not valid_label_name(dst):
        raise PromQLError(f"invalid destination label name in label_replace(): {dst}", "execution")
    group_index = dict(rx.groupindex)

    def relabel(labels: Labels) -> Labels:
        value = get_label(labels, src)
        m = rx.search(value)
        if m is None:
            return labels
        spans = [m.span(i) for i in range(rx.groups + 1)]
        return set_label(labels, dst, expand(repl, value, spans, group_index))

    return assemble((relabel(s.labels), s.values, s.present) for s in vec.series)


def fn_label_join(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
    """``label_join(v, dst, separator, src...)``."""
    vec = arg_vector(args, 0)
    dst, sep = arg_string(args, 1), arg_string(args, 2)
    srcs = [arg_string(args, i) for i in range(3, len(args))]
    for src in srcs:
        if not valid_label_name(src):
            raise PromQLError(f"invalid source label name in label_join(): {src}", "execution")
    if not valid_label_name(dst):
        raise PromQLError(f"invalid destination label name in label_join(): {dst}", "execution")
    return assemble((set_label(s.labels, dst, sep.join(get_label(s.labels, x) for x in srcs)), s.values, s.present)
                    for s in vec.series)


LABEL_FUNCTIONS: dict[str, Callable[[Steps, list[Value], list[Any]], Value]] = {
    "label_replace": fn_label_replace,
    "label_join": fn_label_join,
}
