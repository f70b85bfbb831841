"""Go value model and ``fmt`` formatting for the alert-template engine (see ``alerts.templating``).

Go values are represented as: ``str`` (string), ``float`` (float64), ``int`` (int), ``bool``, ``None``
(an invalid value, printed ``<no value>``), ``dict`` (``map[string]string``), :class:`ArgsMap`
(``map[string]interface{}``), :class:`Sample` (``*sample``), ``list`` (``queryResult``), :class:`AlertData`
(the data struct of an alert template).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MAX_OUTPUT = 1 << 20  # characters; larger outputs or intermediate strings are a TemplateError


class TemplateError(Exception):
    """A template failed to parse or execute; the message is worded as Prometheus/Go would (best effort)."""


@dataclass(frozen=True)
class Sample:
    """One sample of a ``query`` result: its labels (``__name__`` included) and value."""

    labels: dict[str, str]
    value: float


class ArgsMap(dict[str, Any]):
    """A Go ``map[string]interface{}`` (the result of ``args``): missing keys are ``<no value>``."""


@dataclass(frozen=True)
class AlertData:
    """The ``.`` of an alert template (Prometheus' ``AlertTemplateData`` struct)."""

    labels: dict[str, str]
    external_labels: dict[str, str]
    external_url: str
    value: float


ALERT_DATA_TYPE = ("struct { Labels map[string]string; ExternalLabels map[string]string; "
                   "ExternalURL string; Value float64 }")


def go_type(v: Any) -> str:
    """The Go type name of a template value, as Go's error messages print it."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, ArgsMap):
        return "map[string]interface {}"
    if isinstance(v, dict):
        return "map[string]string"
    if isinstance(v, Sample):
        return "*template.sample"
    if isinstance(v, list):
        return "template.queryResult"
    return ALERT_DATA_TYPE


def _digits(v: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of finite ``v`` > 0 and the decimal point position ``dp``."""
    t = Decimal(repr(v)).normalize().as_tuple()
    ds = "".join(map(str, t.digits))
    assert isinstance(t.exponent, int)
    return ds, len(ds) + t.exponent


def _special(v: float) -> str | None:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return None


def format_float_v(v: float) -> str:
    """Go's ``%v`` of a float64, ``strconv.FormatFloat(v, 'g', -1, 64)``.

    Shortest round-trip digits; an exponent (at least two digits) when the decimal exponent is < -4 or >= 6,
    so 100000 prints ``100000`` but 1e6 prints ``1e+06``.
    """
    sp = _special(v)
    if sp is not None:
        return sp
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    sign = "-" if v < 0 else ""
    ds, dp = _digits(abs(v))
    exp = dp - 1
    if exp < -4 or exp >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{sign}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{ds}"
    if dp >= len(ds):
        return sign + ds + "0" * (dp - len(ds))
    return f"{sign}{ds[:dp]}.{ds[dp:]}"


def go_quote(s: str) -> str:
    """Go's ``strconv.Quote`` (printable non-ASCII kept, control characters escaped)."""
    out = ['"']
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
             "\\": "\\\\", '"': '\\"'}
    for ch in s:
        if ch in named:
            out.append(named[ch])
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def sprint_value(v: Any) -> str:
    """Go's ``fmt.Sprint`` of one value (``%v``), with ``<no value>`` for an invalid value at top level."""
    if v is None:
        return "<no value>"
    if isinstance(v, Sample):  # text/template dereferences a pointer before printing it
        return _v(v, top=True)[1:]
    return _v(v, top=True)


def _v(v: Any, top: bool = False) -> str:
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return format_float_v(v)
    if isinstance(v, int | str):
        return str(v)
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_v(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, Sample):
        inner = f"{{{_v(v.labels)} {format_float_v(v.value)}}}"
        return "&" + inner if top else "0xc000000000"
    if isinstance(v, list):
        return "[" + " ".join(_v(x) for x in v) + "]"
    if isinstance(v, AlertData):
        return (f"{{{_v(v.labels)} {_v(v.external_labels)} {v.external_url} {format_float_v(v.value)}}}")
    return str(v)


def sprint(args: list[Any]) -> str:
    """Go's ``fmt.Sprint``: a space between operands when neither side is a string."""
    out: list[str] = []
    for i, a in enumerate(args):
        if i > 0 and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(_v(a, top=True))
    return "".join(out)


_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d*|\*))?([a-zA-Z%])")


def sprintf(fmt: str, args: list[Any]) -> str:
    """Go's ``fmt.Sprintf`` for the common verbs (``v s q d f F e E g G x X t c b o %``)."""
    out: list[str] = []
    pos = 0
    ai = 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        flags, width, prec, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        if verb == "%":
            out.append("%")
            continue
        if width == "*" or prec == "*":
            out.append("%!(BADWIDTH)")
            continue
        w = int(width) if width else None
        p = (int(prec) if prec else 0) if prec is not None else None
        if (w or 0) > MAX_OUTPUT or (p or 0) > MAX_OUTPUT:
            raise TemplateError("printf width or precision too large")
        if ai >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_pad(_verb(verb, flags, p, args[ai]), w, flags))
        ai += 1
    out.append(fmt[pos:])
    if ai < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{go_type(a)}={_v(a)}" for a in args[ai:]) + ")")
    return "".join(out)


def _pad(s: str, w: int | None, flags: str) -> str:
    if w is None or len(s) >= w:
        return s
    if "-" in flags:
        return s.ljust(w)
    if "0" in flags and s[:1] in "+-0123456789":
        sign = s[0] if s[0] in "+-" else ""
        return sign + s[len(sign):].rjust(w - len(sign), "0")
    return s.rjust(w)


def _bad(verb: str, a: Any) -> str:
    return f"%!{verb}({go_type(a)}={_v(a)})"


def _verb(verb: str, flags: str, p: int | None, a: Any) -> str:
    if verb == "v" or (verb == "s" and isinstance(a, str)):
        s = _v(a, top=True) if a is not None else "<nil>"
        return s[:p] if p is not None and isinstance(a, str) else s
    if verb == "s" and isinstance(a, dict | list | Sample | AlertData):
        return _v(a, top=True)
    if verb == "q" and isinstance(a, str):
        return go_quote(a)
    if verb == "T":
        return go_type(a)
    if verb == "q" and isinstance(a, int) and not isinstance(a, bool):
        q = go_quote(chr(a) if 0 <= a < 0x110000 else "\ufffd")[1:-1]
        return "'" + q.replace('\\"', '"').replace("'", "\\'") + "'"
    if verb == "t":
        return ("true" if a else "false") if isinstance(a, bool) else _bad(verb, a)
    if isinstance(a, bool) or not isinstance(a, int | float | str):
        return _bad(verb, a)
    if isinstance(a, str):
        if verb in "xX":
            h = a.encode().hex()
            return h.upper() if verb == "X" else h
        return _bad(verb, a)
    if isinstance(a, int):
        return _int_verb(verb, flags, a)
    return _float_verb(verb, flags, p, a)


def _int_verb(verb: str, flags: str, a: int) -> str:
    spec = {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}.get(verb)
    if verb == "c":
        return chr(a) if 0 <= a < 0x110000 else "\ufffd"
    if spec is None:
        return _bad(verb, a)
    s = format(a, spec)
    if "+" in flags and a >= 0:
        s = "+" + s
    elif " " in flags and a >= 0:
        s = " " + s
    return s


def _float_verb(verb: str, flags: str, p: int | None, a: float) -> str:
    if verb not in "eEfFgGxX":
        return _bad(verb, a)
    sp = _special(a)
    if sp is not None:
        return sp
    if verb in "xX":
        m, _, e = float.hex(a).partition("p")
        m = m.rstrip("0").rstrip(".") if "." in m else m
        h = f"{m}p{e[0]}{int(e[1:]):02d}"
        return h.upper().replace("0X", "0X") if verb == "X" else h
    if p is None and verb in "gG":
        s = format_float_v(a) if verb == "g" else format_float_v(a).upper()
    else:
        s = format(a, f"{'#' if '#' in flags else ''}.{6 if p is None else p}{verb}")
    if "+" in flags and not s.startswith("-"):
        s = "+" + s
    elif " " in flags and not s.startswith("-"):
        s = " " + s
    return s


def go_g4(v: float) -> str:
    """Go's ``fmt.Sprintf("%.4g", v)``."""
    sp = _special(v)
    return sp if sp is not None else format(v, ".4g")
