"""Alertmanager label matchers (``matchers:`` strings and legacy ``match``/``match_re``).

Contract: :func:`parse_matchers` accepts what Alertmanager 0.25's ``pkg/labels`` parser accepts for the
common forms -- ``a="b"``, ``a=~"x"``, ``a!="b"``, ``a!~"x"``, unquoted values (``a=b``) and brace lists
``{a="b", c="d"}`` -- and raises :class:`MatcherError` otherwise.  Regexes are RE2, fully anchored, via
the repo's :class:`query.promql.model.Matcher`.  An absent label matches as ``""``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from query.promql.model import Matcher, PromQLError

_ONE = re.compile(r'\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|[^",}]*)\s*$')


class MatcherError(ValueError):
    """A matcher string Alertmanager would refuse."""


def parse_matcher(text: str) -> Matcher:
    """One matcher such as ``severity=~"crit|page"``; raises :class:`MatcherError` when malformed."""
    m = _ONE.match(text)
    if m is None:
        raise MatcherError(f"bad matcher format: {text}")
    name, op, raw = m.groups()
    raw = raw.strip()
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"'):
            raise MatcherError(f"bad matcher format: {text}")
        value = re.sub(r'\\(.)', lambda g: {"n": "\n"}.get(g.group(1), g.group(1)), raw[1:-1])
    else:
        value = raw
    try:
        return Matcher.make(name, op, value)
    except PromQLError as exc:
        raise MatcherError(f"invalid regular expression in matcher: {text}") from exc


def _split(body: str) -> list[str]:
    parts, cur, quoted, esc = [], "", False, False
    for ch in body:
        if esc:
            cur += ch
            esc = False
        elif ch == "\\" and quoted:
            cur += ch
            esc = True
        elif ch == '"':
            cur += ch
            quoted = not quoted
        elif ch == "," and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if quoted:
        raise MatcherError(f"bad matcher format: {body}")
    if cur.strip():
        parts.append(cur)
    return parts


def parse_matchers(text: str) -> list[Matcher]:
    """A matcher or a ``{...}`` list of them (trailing comma allowed, as in Alertmanager)."""
    body = text.strip()
    if body.startswith("{"):
        if not body.endswith("}"):
            raise MatcherError(f"missing closing '}}' in {text}")
        body = body[1:-1]
    return [parse_matcher(part) for part in _split(body)]


def legacy_matchers(match: Mapping[str, str], match_re: Mapping[str, str]) -> list[Matcher]:
    """Matchers of the deprecated ``match`` (equality) and ``match_re`` (anchored regex) maps."""
    out = [Matcher.make(k, "=", v) for k, v in match.items()]
    for k, v in match_re.items():
        try:
            out.append(Matcher.make(k, "=~", v))
        except PromQLError as exc:
            raise MatcherError(f"invalid regular expression for {k}") from exc
    return out


def matches_all(matchers: list[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher accepts ``labels`` (absent labels count as ``""``)."""
    return all(m.matches(labels.get(m.name, "")) for m in matchers)
