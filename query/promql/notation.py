r"""The ``input_series`` notation of ``promtool test rules`` (Prometheus 2.42), parsed as promtool parses it.

promtool joins a test's ``series`` and ``values`` into one line ``"<series> <values>"`` of a ``load
<interval>`` block and parses it with ``parser.ParseSeriesDesc``; the i-th value lands at ``i * interval``
ms (time 0 is the Unix epoch). This module re-implements that lexer and grammar:

* series: ``name``, ``name{l="v", …}`` or ``{__name__="name", …}``; label values are ``"…"``, ``'…'`` or
  raw backtick strings with Go escapes (``\n``, ``\x41``, ``\101``, ``\u00e9``, ``\U0001F600`` …).
  A name beside the braces overrides ``__name__`` inside them; empty values mean "no label"; a repeated
  label name is an error (promtool rejects the sample).
* values, separated by whitespace: a number (decimal, float, ``Inf``/``NaN`` in any case; a leading ``0``
  means **octal**: ``010`` is 8; hexadecimal is *not* accepted, ``0x1`` reads as "0 repeated"),
  ``stale`` (a staleness marker, :data:`~query.promql.model.STALE_NAN`), ``_`` (no sample at that step);
  ``a+bxn`` / ``a-bxn``: the ``n+1`` values ``a, a±b, …`` (by repeated float addition); ``axn``: ``n+1``
  copies of ``a``; ``_xn``: **n** (not n+1) empty steps. ``n`` is a plain decimal integer.
* Errors raise :class:`~query.promql.model.PromQLError` (``bad_data``) naming the offending token and its
  ``line:column`` in the joined line, as promtool reports them.

Deviations, all of them errors where promtool would do something odd: a label value whose escapes form
invalid UTF-8, an empty series, a description spanning several lines, more than :data:`MAX_STEPS` values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from query.promql.model import NAME, STALE_NAN, Labels, PromQLError, labels_of

MAX_STEPS = 10_000_000

_KEYWORDS = frozenset({
    "and", "or", "unless", "atan2", "sum", "avg", "count", "min", "max", "group", "stddev", "stdvar",
    "topk", "bottomk", "count_values", "quantile", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "bool", "start", "end",
})
# Keywords the grammar does not accept as a metric name.
_NOT_METRIC = frozenset({"atan2", "on", "ignoring", "group_left", "group_right", "bool"})
_SPACE = frozenset(" \t\n\r")
_NUMBER_RE = re.compile(r"[0-9]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]*)?")  # the lexer's scanNumber
_GO_TRIM = " \t\n\v\f\r\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B)))
_ALPHA = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_DIGIT = frozenset("0123456789")
_ALNUM = _ALPHA | _DIGIT
_SIMPLE_ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


@dataclass(frozen=True, slots=True)
class Token:
    """A lexer item: ``kind`` is one of NUMBER IDENT METRIC KEYWORD STRING { } , = OP SPACE + - x _ EOF."""

    kind: str
    text: str
    pos: int


@dataclass(frozen=True, slots=True)
class SeriesDesc:
    """A parsed series description: its labels and one entry per step (``None``: no sample there)."""

    labels: Labels
    values: tuple[float | None, ...]


class _Lexer:
    """The series-description modes of Prometheus' lexer: statement, inside braces, value sequence."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.mode = "stmt"

    def fail(self, pos: int, msg: str) -> PromQLError:  # noqa: D102
        return _error(self.s, pos, msg)

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        while not out or out[-1].kind != "EOF":
            if (tok := self.next()) is not None:
                out.append(tok)
        return out

    def next(self) -> Token | None:
        s, start = self.s, self.i
        c = self.peek()
        if self.mode == "values":
            return self._value_token(c, start)
        if c == "#":  # a line comment
            while self.i < len(s) and s[self.i] not in "\r\n":
                self.i += 1
            return None
        if c == "":
            if self.mode == "braces":
                raise self.fail(start, "unexpected end of input inside braces")
            return Token("EOF", "", start)
        if c in _SPACE:
            self.i += 1
            return None
        return self._brace_token(c, start) if self.mode == "braces" else self._stmt_token(c, start)

    def _stmt_token(self, c: str, start: int) -> Token:
        if c in _ALPHA or c == ":":
            return self._word(start)
        if c == "{":
            self.i += 1
            self.mode = "braces"
            return Token("{", c, start)
        self.i += 1
        return Token("OP", c, start)  # anything else cannot start a series description

    def _brace_token(self, c: str, start: int) -> Token:
        self.i += 1
        if c in _ALPHA:
            while self.peek() in _ALNUM:
                self.i += 1
            return Token("IDENT", self.s[start:self.i], start)
        if c == ",":
            return Token(",", c, start)
        if c in "\"'`":
            return self._string(c, start)
        if c == "=":
            if self.peek() == "~":
                self.i += 1
                return Token("OP", "=~", start)
            return Token("=", c, start)
        if c == "!":
            nc = self.peek()
            if nc not in ("~", "="):
                raise self.fail(start, f"unexpected character after '!' inside braces: {nc!r}")
            self.i += 1
            return Token("OP", "!" + nc, start)
        if c == "}":
            self.mode = "values"
            return Token("}", c, start)
        if c == "{":
            raise self.fail(start, "unexpected left brace '{'")
        raise self.fail(start, f"unexpected character inside braces: {c!r}")

    def _value_token(self, c: str, start: int) -> Token:
        if c == "":
            return Token("EOF", "", start)
        if c in _SPACE:
            while self.peek() in _SPACE:
                self.i += 1
            return Token("SPACE", " ", start)
        if c in "+-x_":
            self.i += 1
            return Token(c, c, start)
        if c in _DIGIT or (c == "." and self.peek(1) in _DIGIT):
            return self._number(start)
        if c in _ALPHA:
            return self._word(start)
        raise self.fail(start, f"unexpected character in series sequence: {c!r}")

    def _number(self, start: int) -> Token:
        m = _NUMBER_RE.match(self.s, start)
        assert m is not None  # the caller saw a digit, or "." and a digit
        self.i = m.end()
        nxt = self.peek()
        if nxt != "x" and nxt in _ALNUM:
            raise self.fail(start, f"bad number syntax: {self.s[start:self.i]!r}")
        return Token("NUMBER", self.s[start:self.i], start)

    def _word(self, start: int) -> Token:
        while (c := self.peek()) in _ALNUM or c == ":":
            self.i += 1
        word = self.s[start:self.i]
        low = word.lower()
        if self.mode == "stmt":
            self.mode = "stmt" if self.peek() == "{" else "values"
        if low in ("inf", "nan"):
            return Token("NUMBER", word, start)
        if low in _KEYWORDS:
            return Token("KEYWORD", word, start)
        return Token("METRIC" if ":" in word else "IDENT", word, start)

    def _string(self, quote: str, start: int) -> Token:
        s = self.s
        while True:
            if self.i >= len(s):
                raise self.fail(start, "unterminated raw string" if quote == "`" else "unterminated quoted string")
            c = s[self.i]
            self.i += 1
            if c == quote:
                return Token("STRING", s[start:self.i], start)
            if quote == "`":
                continue
            if c == "\n":
                raise self.fail(start, "unterminated quoted string")
            if c == "\\":
                self.i = _escape(s, self.i, quote, bytearray(), lambda _p, m: self.fail(start, m))  # Go: at the quote


def _escape(s: str, i: int, quote: str, out: bytearray, fail: Callable[[int, str], PromQLError]) -> int:
    """Decode the escape after a backslash at ``s[i]`` into ``out`` (UTF-8); the index after it."""
    c = s[i] if i < len(s) else ""
    if c == "":
        raise fail(i, "escape sequence not terminated")
    if c in _SIMPLE_ESC or c == quote:
        out += _SIMPLE_ESC.get(c, c).encode()
        return i + 1
    if c in "01234567":
        n, base, top, j = 3, 8, 255, i
    elif c in "xuU":
        n, base, top, j = {"x": (2, 16, 255), "u": (4, 16, 0x10FFFF), "U": (8, 16, 0x10FFFF)}[c] + (i + 1,)
    else:
        raise fail(i, f"unknown escape sequence {c!r}")
    digits = s[j:j + n]
    valid = "01234567" if base == 8 else "0123456789abcdefABCDEF"
    if len(digits) < n or any(d not in valid for d in digits):
        raise fail(i, f"illegal character in escape sequence {s[i - 1:j + n]!r}")
    x = int(digits, base)
    if x > top or 0xD800 <= x < 0xE000:
        raise fail(i, "escape sequence is an invalid Unicode code point")
    out += bytes([x]) if c in "01234567x" else chr(x).encode()
    return j + n


def _unquote(tok: Token, line: str) -> str:
    body, quote = tok.text[1:-1], tok.text[0]
    if quote == "`":
        return body
    out = bytearray()
    i = 0
    while i < len(body):
        if body[i] == "\\":
            i = _escape(body, i + 1, quote, out, lambda p, m: _error(line, tok.pos + 1 + p, m))
        else:
            out += body[i].encode("utf-8", "surrogatepass")
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _error(line, tok.pos, f"label value {tok.text} is not valid UTF-8") from exc


def _error(line: str, pos: int, msg: str) -> PromQLError:
    return PromQLError(f"bad input series {line!r}: 1:{pos + 1}: parse error: {msg}", "bad_data")


def _number(tok: Token, line: str) -> float:
    """Prometheus' ``parser.number``: Go ``ParseInt(s, 0, 64)`` (so octal), else ``ParseFloat``."""
    text = tok.text
    if text.isdigit():
        try:
            n = int(text, 8) if len(text) > 1 and text[0] == "0" else int(text)
        except ValueError:
            n = None
        if n is not None and -(2**63) <= n < 2**63:
            return float(n)
    try:
        f = float(text)
    except ValueError:
        raise _error(line, tok.pos, f"error parsing number: invalid syntax {text!r}") from None
    if f in (float("inf"), float("-inf")) and text.lower() != "inf":
        raise _error(line, tok.pos, f"error parsing number: {text!r} value out of range")
    return f


class _Parser:
    def __init__(self, line: str) -> None:
        self.line = line
        self.toks = _Lexer(line).tokens()
        self.k = 0

    @property
    def tok(self) -> Token:
        return self.toks[self.k]

    def take(self, kind: str = "", context: str = "series values", expected: str = "") -> Token:
        """Consume the current token, which must be of ``kind`` when given."""
        if kind and self.tok.kind != kind:
            raise self.unexpected(context, expected)
        self.k += 1
        return self.toks[self.k - 1]

    def unexpected(self, context: str, expected: str = "") -> PromQLError:
        t = self.tok
        what = "end of input" if t.kind == "EOF" else f"{t.text!r}"
        tail = f", expected {expected}" if expected else ""
        return _error(self.line, t.pos, f"unexpected {what} in {context}{tail}")

    def parse(self) -> SeriesDesc:
        name: str | None = None
        if self.tok.kind in ("IDENT", "METRIC") or (self.tok.kind == "KEYWORD"
                                                   and self.tok.text.lower() not in _NOT_METRIC):
            name = self.take().text
        pairs = self.label_set() if self.tok.kind == "{" else []
        if name is not None:
            pairs = [p for p in pairs if p[0] != NAME] + [(NAME, name)]
        if dup := sorted(k for k, _ in pairs if [n for n, _ in pairs].count(k) > 1):
            raise _error(self.line, 0, f"label name {dup[0]!r} is not unique")
        values: list[float | None] = []
        while self.tok.kind != "EOF":
            if self.tok.kind != "SPACE":
                raise self.unexpected("series values" if name is not None or pairs else "series description")
            self.take()
            if self.tok.kind not in ("SPACE", "EOF"):
                self.item(values)
                if len(values) > MAX_STEPS:
                    raise _error(self.line, self.tok.pos, f"more than {MAX_STEPS} values")
        return SeriesDesc(labels_of(pairs), tuple(values))

    def label_set(self) -> list[tuple[str, str]]:
        self.take()
        pairs: list[tuple[str, str]] = []
        while self.tok.kind != "}":
            key = self.take("IDENT", "label set", 'identifier or "}"').text
            self.take("=", "label set", '"="')
            pairs.append((key, _unquote(self.take("STRING", "label set", "string"), self.line)))
            if self.tok.kind == ",":
                self.take()
            elif self.tok.kind != "}":
                raise self.unexpected("label set", '"," or "}"')
        self.take()
        return pairs

    def signed(self) -> float:
        sign = -1.0 if self.take().kind == "-" else 1.0
        return sign * _number(self.take("NUMBER", expected="number"), self.line)

    def times(self) -> int:
        self.take("x", expected='"x"')
        tok = self.take("NUMBER", expected="repetition count")
        if not tok.text.isdigit():  # Go's ParseUint(s, 10, 64)
            raise _error(self.line, tok.pos, f"invalid repetition in series values: {tok.text!r}")
        if (n := int(tok.text)) > MAX_STEPS:
            raise _error(self.line, tok.pos, f"repetition {n} exceeds {MAX_STEPS} values")
        return n

    def item(self, out: list[float | None]) -> None:
        t = self.tok
        if t.kind == "_":
            self.take()
            out.extend([None] * (self.times() if self.tok.kind == "x" else 1))
            return
        if t.kind == "IDENT":
            if t.text != "stale":
                raise _error(self.line, t.pos, f"unexpected identifier {t.text!r} in series values, "
                                               'expected number or "stale"')
            self.take()
            v = STALE_NAN
        elif t.kind == "NUMBER":
            v = _number(self.take(), self.line)
        elif t.kind in ("+", "-"):
            v = self.signed()
        else:
            raise self.unexpected("series values", 'number, "stale" or "_"')
        if self.tok.kind in ("SPACE", "EOF"):
            out.append(v)
        elif self.tok.kind == "x":
            out.extend([v] * (self.times() + 1))
        elif self.tok.kind in ("+", "-"):
            inc = self.signed()
            for _ in range(self.times() + 1):
                out.append(v)
                v += inc
        else:
            raise self.unexpected("series values")


def parse_series_desc(line: str) -> SeriesDesc:
    """Parse one line ``<series> <values>`` of a ``load`` block (``parser.ParseSeriesDesc``)."""
    return _Parser(line).parse()


def parse_input_series(series: str, values: str, interval_ms: int = 60_000) -> tuple[Labels, list[tuple[int, float]]]:
    """The labels and ``(time_ms, value)`` samples promtool loads for one ``input_series`` entry."""
    if interval_ms <= 0:
        raise PromQLError(f"input series interval must be positive, got {interval_ms} ms", "bad_data")
    lines = [ln.strip(_GO_TRIM) for ln in f"{series} {values}".split("\n")]
    lines = ["" if ln.startswith("#") else ln for ln in lines]
    if not lines[0]:
        raise PromQLError(f"empty input series {series!r}", "bad_data")
    if any(lines[1:]):
        raise PromQLError(f"input series {series!r} with values {values!r} spans several lines", "bad_data")
    desc = parse_series_desc(lines[0])
    return desc.labels, [(i * interval_ms, v) for i, v in enumerate(desc.values) if v is not None]


def load_input_series(entries: Iterable[tuple[str, str]],
                      interval_ms: int = 60_000) -> dict[Labels, list[tuple[int, float]]]:
    """All ``(series, values)`` entries of one test group, keyed by labels.

    A later entry with the same labels replaces an earlier one, as in promtool (its load command keys the
    series by label hash).
    """
    out: dict[Labels, list[tuple[int, float]]] = {}
    for series, values in entries:
        labels, samples = parse_input_series(series, values, interval_ms)
        out[labels] = samples
    return out
