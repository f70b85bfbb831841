"""Lexer for Go ``text/template`` actions (the part between ``{{`` and ``}}``), for ``alerts.template_parse``.

Positions are character offsets into the whole template text; errors are ``TemplateError`` worded like Go's
``template: NAME:LINE: ...`` parse errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from alerts.template_fmt import TemplateError, go_quote

SPACE = " \t\r\n"
SPACE = " \t\r\n"
_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}
_NUM = re.compile(r"[+-]?(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(\d[\d_]*)?\.?[\d_]*([eE][+-]?\d+)?)")
_ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}


@dataclass
class Tok:
    """One lexical item inside an action: kind, source text, decoded value, position (char offset)."""

    kind: str  # space field var ident str num char bool nil dot pipe ( ) := = , kw end
    text: str
    pos: int
    value: Any = None


def lex_error(text: str, name: str, pos: int, msg: str) -> TemplateError:
    """Go's parse error ``template: NAME:LINE: MSG`` for a problem at offset ``pos`` of ``text``."""
    return TemplateError(f"template: {name}:{text.count(chr(10), 0, pos) + 1}: {msg}")


def lex_action(text: str, name: str, p: int) -> tuple[list[Tok], int, bool]:
    """Tokens of the action starting at ``p`` (after ``{{``); returns tokens, end offset, right-trim flag."""
    toks: list[Tok] = []
    n = len(text)
    while True:
        if p >= n:
            raise lex_error(text, name, p, "unclosed action")
        c = text[p]
        if text.startswith("}}", p):
            return toks, p + 2, False
        if c in SPACE:
            if text.startswith("-}}", p + 1):
                return toks, p + 4, True
            q = p
            while q < n and text[q] in SPACE:
                q += 1
            toks.append(Tok("space", text[p:q], p))
            p = q
            continue
        tok = _lex_one(text, name, p)
        toks.append(tok)
        p += len(tok.text)


def _lex_one(text: str, name: str, p: int) -> Tok:
    c = text[p]
    if text.startswith(":=", p):
        return Tok(":=", ":=", p)
    if c in "|()=,":
        return Tok("pipe" if c == "|" else c, c, p)
    if c == '"':
        return _lex_quote(text, name, p)
    if c == "`":
        q = text.find("`", p + 1)
        if q < 0:
            raise lex_error(text, name, p, "unterminated raw quoted string")
        return Tok("str", text[p:q + 1], p, text[p + 1:q])
    if c == "'":
        m = re.compile(r"'(\\.|[^\\'\n])'").match(text, p)
        if not m:
            bad = re.compile(r"'(\\.|[^\\'\n])*'?").match(text, p)
            raise lex_error(text, name, p, f"malformed character constant: {bad.group(0) if bad else c}")
        return Tok("char", m.group(0), p, ord(_unescape(m.group(1), text, name, p)))
    if c == "." and p + 1 < len(text) and text[p + 1].isdigit():
        return _lex_number(text, name, p)
    if c in "$.":
        m = re.compile(r"[\w]*").match(text, p + 1)
        assert m
        word = text[p:m.end()]
        return Tok("var" if c == "$" else ("dot" if word == "." else "field"), word, p)
    if c.isdigit() or (c in "+-" and p + 1 < len(text) and (text[p + 1].isdigit() or text[p + 1] == ".")):
        return _lex_number(text, name, p)
    m = re.compile(r"\w+").match(text, p)
    if not m:
        raise lex_error(text, name, p, f"unexpected {go_quote(c)} in command")
    word = m.group(0)
    kind = "kw" if word in _KEYWORDS else ("bool" if word in ("true", "false") else
                                           "nil" if word == "nil" else "ident")
    return Tok(kind, word, p, word == "true")


def _lex_number(text: str, name: str, p: int) -> Tok:
    m = _NUM.match(text, p)
    assert m
    s = m.group(0)
    end = m.end()
    if end < len(text) and (text[end].isalnum() or text[end] in "_."):
        raise lex_error(text, name, p, f'bad number syntax: "{text[p:end + 1]}"')
    clean = s.replace("_", "")
    try:
        if re.fullmatch(r"[+-]?0[xXbBoO].*", clean):
            return Tok("num", s, p, int(clean, 0))
        if re.fullmatch(r"[+-]?\d+", clean):
            return Tok("num", s, p, int(clean, 10))
        return Tok("num", s, p, float(clean))
    except ValueError:
        raise lex_error(text, name, p, f'bad number syntax: "{s}"') from None


def _lex_quote(text: str, name: str, p: int) -> Tok:
    q = p + 1
    while True:
        if q >= len(text) or text[q] == "\n":
            raise lex_error(text, name, p, "unterminated quoted string")
        if text[q] == "\\":
            q += 2
            continue
        if text[q] == '"':
            break
        q += 1
    return Tok("str", text[p:q + 1], p, _unescape(text[p + 1:q], text, name, p))


def _unescape(body: str, text: str, name: str, p: int) -> str:
    r"""Go's escapes: ``\\a \\b \\f \\n \\r \\t \\v \\\\ \\" \\xHH \\ooo \\uHHHH \\UHHHHHHHH``."""
    out = bytearray()
    i = 0
    sizes = {"x": 2, "u": 4, "U": 8}
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        e = body[i + 1] if i + 1 < len(body) else ""
        if e in _ESC or (e == "'" and text[p] == "'"):
            out += (_ESC.get(e) or "'").encode()
            i += 2
        elif e in sizes and re.fullmatch(r"[0-9a-fA-F]+", body[i + 2:i + 2 + sizes[e]] or "-"):
            v = int(body[i + 2:i + 2 + sizes[e]], 16)
            if e == "x":
                out.append(v)
            elif v < 0x110000:
                out += chr(v).encode("utf-8", "surrogatepass")
            i += 2 + sizes[e]
        elif re.fullmatch(r"[0-7]{3}", body[i + 1:i + 4]) and int(body[i + 1:i + 4], 8) < 256:
            out.append(int(body[i + 1:i + 4], 8))
            i += 4
        else:
            raise lex_error(text, name, p, "invalid syntax")
    return out.decode("utf-8", "replace")
