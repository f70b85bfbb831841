"""Go ``text/template`` builtins and Prometheus 2.42 template functions for ``alerts.templating``.

Each entry of :data:`FUNCS` is ``(param kinds, variadic kind or None, implementation)``. Parameter kinds:
``s`` string, ``f`` float64, ``i`` interface{}, ``r`` any value (builtins' reflect.Value), ``S`` *sample,
``V`` queryResult. An implementation raises :class:`FuncError` (worded as the Go error) on failure.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

import re2

from alerts.template_fmt import MAX_OUTPUT, ArgsMap, Sample, go_g4, go_type, sprint, sprintf


class FuncError(Exception):
    """A function's returned error (rendered ``error calling NAME: MSG``)."""


def truth(v: Any) -> bool:
    """Go template truthiness: non-zero numbers, non-empty strings/maps/lists, non-nil pointers, true."""
    if v is None:
        return False
    if isinstance(v, bool | int | float):
        return v != 0
    if isinstance(v, str | dict | list):
        return len(v) > 0
    return True


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    return "invalid" if v is None else "other"


def _eq(a: Any, *rest: Any) -> bool:
    if not rest:
        raise FuncError("missing argument for comparison")
    k1 = _kind(a)
    for b in rest:
        k2 = _kind(b)
        if k1 != k2:
            if a is not None and b is not None:
                raise FuncError("incompatible types for comparison")
        elif k1 == "other":
            if isinstance(a, dict | list):
                raise FuncError(f"non-comparable type {sprint([a])}: {go_type(a)}")
            if a is b:
                return True
        elif a == b:
            return True
    return False


def _lt(a: Any, b: Any) -> bool:
    k1, k2 = _kind(a), _kind(b)
    if k1 != k2:
        raise FuncError("incompatible types for comparison")
    if k1 not in ("int", "float", "string"):
        raise FuncError("invalid type for comparison")
    return bool(a < b)


def _len(v: Any) -> int:
    if isinstance(v, str):
        return len(v.encode())
    if isinstance(v, dict | list):
        return len(v)
    raise FuncError(f"len of type {go_type(v)}")


def _index(item: Any, *idx: Any) -> Any:
    for i in idx:
        if item is None:
            raise FuncError("index of untyped nil")
        if isinstance(item, dict):
            if not isinstance(i, str):
                raise FuncError(f"value has type {go_type(i)}; should be string")
            item = item.get(i, None if isinstance(item, ArgsMap) else "")
        elif isinstance(item, list | str):
            if isinstance(i, bool) or not isinstance(i, int):
                raise FuncError(f"cannot index slice/array with type {go_type(i)}")
            if not 0 <= i < len(item):
                raise FuncError(f"index out of range: {i}")
            item = item[i] if isinstance(item, list) else item.encode()[i]
        else:
            raise FuncError(f"can't index item of type {go_type(item)}")
    return item


def _args_str(args: tuple[Any, ...]) -> str:
    return args[0] if len(args) == 1 and isinstance(args[0], str) else sprint(list(args))


def _html(*args: Any) -> str:
    s = _args_str(args)
    for a, b in (("&", "&amp;"), ("'", "&#39;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&#34;"), ("\0", "\ufffd")):
        s = s.replace(a, b)
    return s


def _js(*args: Any) -> str:
    out = []
    named = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026",
             "=": "\\u003D", "\n": "\\u000A", "\r": "\\u000D", "\t": "\\u0009"}
    for ch in _args_str(args):
        if ch in named:
            out.append(named[ch])
        elif ord(ch) < 0x20 or not ch.isprintable():
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _urlquery(*args: Any) -> str:
    return urllib.parse.quote_plus(_args_str(args), safe="-_.~")


def to_float(v: Any) -> float:
    """Prometheus' ``convertToFloat``: float64, int, or a string in Go ``strconv.ParseFloat`` syntax."""
    if isinstance(v, float):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        ok = re.fullmatch(r"[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)", v, re.IGNORECASE)
        if ok:
            return float(v)
        raise FuncError(f'strconv.ParseFloat: parsing "{v}": invalid syntax')
    raise FuncError(f"can't convert {go_type(v)} to float")


def _scale(v: float, prefixes: str, step: float, up: bool) -> tuple[float, str]:
    prefix = ""
    for p in prefixes.split():
        if (abs(v) < step) if up else (abs(v) >= 1):
            break
        prefix = p
        v = v / step if up else v * step
    return v, prefix


def _humanize(i: Any) -> str:
    v = to_float(i)
    if v == 0 or not math.isfinite(v):
        return go_g4(v)
    if abs(v) >= 1:
        v, p = _scale(v, "k M G T P E Z Y", 1000, True)
    else:
        v, p = _scale(v, "m u n p f a z y", 1000, False)
    return go_g4(v) + p


def _humanize1024(i: Any) -> str:
    v = to_float(i)
    if abs(v) <= 1 or not math.isfinite(v):
        return go_g4(v)
    v, p = _scale(v, "ki Mi Gi Ti Pi Ei Zi Yi", 1024, True)
    return go_g4(v) + p


def _humanize_duration(i: Any) -> str:
    v = to_float(i)
    if not math.isfinite(v):
        return go_g4(v)
    if v == 0:
        return go_g4(v) + "s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        d = _go_int64(v)
        secs, mins, hours, days = _rem(d, 60), _rem(_quo(d, 60), 60), _rem(_quo(d, 3600), 24), _quo(d, 86400)
        if days:
            return f"{sign}{days}d {hours}h {mins}m {secs}s"
        if hours:
            return f"{sign}{hours}h {mins}m {secs}s"
        if mins:
            return f"{sign}{mins}m {secs}s"
        return f"{sign}{go_g4(v)}s"
    v, p = _scale(v, "m u n p f a z y", 1000, False)
    return f"{go_g4(v)}{p}s"


def _go_int64(v: float) -> int:
    """Go's ``int64(v)`` on amd64: truncation, and ``MinInt64`` when out of range."""
    return int(v) if -(2.0**63) <= v < 2.0**63 else -(2**63)


def _quo(a: int, b: int) -> int:
    q = abs(a) // b
    return q if a >= 0 else -q


def _rem(a: int, b: int) -> int:
    return a - _quo(a, b) * b


def _to_time(i: Any) -> tuple[int, int]:
    v = to_float(i)
    ts = v * 1e9
    if ts > 9.223372036854775807e18 or ts < -9.223372036854775808e18:
        raise FuncError(f"{sprint([v])} cannot be represented as a nanoseconds timestamp since it overflows int64")
    ns = _go_int64(ts)  # then model.TimeFromUnixNano keeps whole milliseconds
    ms = _quo(ns, 10**6)
    secs, rem = divmod(ms, 1000)
    return secs, rem * 10**6


def _humanize_timestamp(i: Any) -> str:
    v = to_float(i)
    if not math.isfinite(v):
        return go_g4(v)
    secs, nanos = _to_time(v)
    t = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=secs)
    frac = f".{nanos:09d}".rstrip("0") if nanos else ""
    return f"{t:%Y-%m-%d %H:%M:%S}{frac} +0000 UTC"


def _title(s: str) -> str:
    out, prev = [], " "
    for ch in s:
        sep = not (prev.isalnum() or prev == "_") if prev.isascii() else prev.isspace()
        out.append(_one(ch.upper(), ch) if sep else ch)
        prev = ch
    return "".join(out)


def _one(conv: str, ch: str) -> str:
    return conv if len(conv) == 1 else ch


_RE_CODES = {"missing )": "missing closing )", "missing ]": "missing closing ]",
             "bad repetition operator": "invalid nested repetition operator",
             "invalid repetition size": "invalid repeat count", "invalid named capture group": "invalid named capture",
             "invalid perl operator": "invalid or unsupported Perl syntax"}


def _compile(pattern: str, must: bool = False) -> Any:
    """RE2 as Go's ``regexp`` (``regexp.Compile``/``MustCompile`` error wording, best effort)."""
    try:
        return re2.compile(pattern)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else ""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        code, _, arg = text.partition(": ")
        msg = f"error parsing regexp: {_RE_CODES.get(code, code)}: `{arg}`"
        raise FuncError(f"regexp: Compile(`{pattern}`): {msg}" if must else msg) from None


def _expand_repl(m: Any, repl: str) -> str:
    """Go's ``Regexp.Expand`` template: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``."""
    out = []
    for tok in re.finditer(r"\$(\$|\{(\w+)\}|(\w+))|[^$]+|\$", repl):
        name = tok.group(2) or tok.group(3)
        if tok.group(1) == "$":
            out.append("$")
        elif name is None:
            out.append(tok.group(0))
        elif name.isdigit():
            n = int(name)
            out.append((m.group(n) or "") if n <= m.re.groups else "")
        else:
            out.append((m.group(name) or "") if name in m.re.groupindex else "")
    return "".join(out)


def _re_replace_all(pattern: str, repl: str, text: str) -> str:
    rx = _compile(pattern, must=True)
    out, pos, last_end, size = [], 0, -1, 0
    for m in rx.finditer(text):
        if m.start() == m.end() == last_end:
            continue
        out.append(text[pos:m.start()])
        out.append(_expand_repl(m, repl))
        pos = last_end = m.end()
        size += len(out[-2]) + len(out[-1])
        if size > MAX_OUTPUT:
            raise FuncError("result exceeds 1 MiB")
    out.append(text[pos:])
    return "".join(out)


def _split_host_port(hp: str) -> tuple[str, str] | None:
    m = re.fullmatch(r"\[([^\[\]]*)\]:([^:\[\]]*)", hp) or re.fullmatch(r"([^:\[\]]*):([^:\[\]]*)", hp)
    return (m.group(1), m.group(2)) if m else None


def _strip_port(hp: str) -> str:
    sp = _split_host_port(hp)
    return hp if sp is None else sp[0]


def _strip_domain(hp: str) -> str:
    sp = _split_host_port(hp)
    host, port = sp if sp is not None else (hp, "")
    try:
        ipaddress.ip_address(host)
        return hp
    except ValueError:
        pass
    host = host.split(".")[0]
    if port:
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host


_DUR = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")
_DUR_MS = (365 * 86400000, 7 * 86400000, 86400000, 3600000, 60000, 1000, 1)


def _parse_duration(d: str) -> float:
    if d == "":
        raise FuncError("empty duration string")
    m = _DUR.fullmatch(d)
    if d == "0":
        return 0.0
    if not m:
        raise FuncError(f'not a valid duration string: "{d}"')
    ms = sum(int(g) * u for g, u in zip(m.groups(), _DUR_MS, strict=True) if g)
    return float(ms * 1_000_000) / 1e9


def _first(v: list[Sample]) -> Sample:
    if v:
        return v[0]
    raise FuncError("first() called on vector with no elements")


def _deref(s: Sample | None) -> Sample:
    if s is None:
        raise FuncError("runtime error: invalid memory address or nil pointer dereference")
    return s


def _sort_by_label(label: str, v: list[Sample]) -> list[Sample]:
    v.sort(key=lambda s: s.labels.get(label, ""))
    return v


def _not(a: Any) -> bool:
    return not truth(a)


def _match(pattern: str, s: str) -> bool:
    return _compile(pattern).search(s) is not None


Func = tuple[str, str | None, Callable[..., Any]]
FUNCS: dict[str, Func] = {
    "and": ("r", "r", lambda *a: a[-1]), "or": ("r", "r", lambda *a: a[-1]),  # short-circuited by the caller
    "not": ("r", None, _not), "eq": ("r", "r", _eq), "ne": ("rr", None, lambda a, b: not _eq(a, b)),
    "lt": ("rr", None, _lt), "le": ("rr", None, lambda a, b: _lt(a, b) or _eq(a, b)),
    "gt": ("rr", None, lambda a, b: not (_lt(a, b) or _eq(a, b))), "ge": ("rr", None, lambda a, b: not _lt(a, b)),
    "len": ("r", None, _len), "index": ("r", "r", _index),
    "print": ("", "i", lambda *a: sprint(list(a))),
    "println": ("", "i", lambda *a: " ".join(sprint([x]) for x in a) + "\n"),
    "printf": ("s", "i", lambda f, *a: sprintf(f, list(a))),
    "html": ("", "i", _html), "js": ("", "i", _js), "urlquery": ("", "i", _urlquery),
    "first": ("V", None, _first),
    "label": ("sS", None, lambda name, s: _deref(s).labels.get(name, "")),
    "value": ("S", None, lambda s: _deref(s).value),
    "strvalue": ("S", None, lambda s: _deref(s).labels.get("__value__", "")),
    "args": ("", "i", lambda *a: ArgsMap({f"arg{i}": x for i, x in enumerate(a)})),
    "reReplaceAll": ("sss", None, _re_replace_all), "safeHtml": ("s", None, str), "match": ("ss", None, _match),
    "title": ("s", None, _title), "toUpper": ("s", None, lambda s: "".join(_one(c.upper(), c) for c in s)),
    "toLower": ("s", None, lambda s: "".join(_one(c.lower(), c) for c in s)),
    "graphLink": ("s", None, lambda e: f"/graph?g0.expr={_urlquery(e)}&g0.tab=0"),
    "tableLink": ("s", None, lambda e: f"/graph?g0.expr={_urlquery(e)}&g0.tab=1"),
    "sortByLabel": ("sV", None, _sort_by_label), "stripPort": ("s", None, _strip_port),
    "stripDomain": ("s", None, _strip_domain), "humanize": ("i", None, _humanize),
    "humanize1024": ("i", None, _humanize1024), "humanizeDuration": ("i", None, _humanize_duration),
    "humanizePercentage": ("i", None, lambda i: go_g4(to_float(i) * 100) + "%"),
    "humanizeTimestamp": ("i", None, _humanize_timestamp), "parseDuration": ("s", None, _parse_duration),
}
