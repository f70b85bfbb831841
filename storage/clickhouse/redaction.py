"""Redaction and size limits applied while ClickHouse flattens ingest (before anything is stored).

The rules come from YAML (``redaction_file``) or the defaults below and are compiled into the
flattening views' SQL (RE2 regular expressions, vectorised), so no per-attribute Python runs on the
ingest path. Rules, in order, for every attribute (resource, span, event, link, log, scope, metric
point) — keys match case-insensitively, ``*`` is a wildcard:

* ``drop_keys``: the attribute is removed.
* ``hash_keys``: the value becomes the hex SHA-256 of the value.
* ``db_statement_keys`` (``db.statement``, ``db.query.text``): quoted strings and numbers become ``?``.
* ``value_masks``: each ``pattern`` (RE2) is replaced by its ``replacement`` in every string value
  (also inside arrays/maps) and in log bodies (default: e-mail addresses; a payment-card mask is
  available as ``CARD_MASK`` / in the README example); numbers and booleans are never masked.
* ``max_value_chars``: values and log bodies are truncated to this many characters;
  ``max_attributes``: an attribute list keeps its first N entries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_DROP = (
    "http.request.header.authorization",
    "http.request.header.proxy-authorization",
    "http.request.header.cookie",
    "http.response.header.set-cookie",
    "*password*",
    "*passwd*",
    "*secret*",
    "*token*",
    "*api_key*",
    "*apikey*",
)
DEFAULT_MASKS = (("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", "<email>", "@"),)
CARD_MASK = (
    "card", r"\b(?:4\d{3}|5[1-5]\d{2}|2[2-7]\d{2}|3[47]\d{2}|6(?:011|5\d{2}))(?:[ -]?\d){9,15}\b", "<card>", ""
)
"""Payment card numbers (Visa, Mastercard, Amex, Discover prefixes; 13–19 digits with optional
space/dash groups). Opt-in (``value_masks``): a digit-run regex over every text value costs ~12 % of
ingest CPU, while the e-mail mask is prefiltered on ``@`` and nearly free."""


class RedactionError(ValueError):
    """The redaction file is invalid (message names the problem)."""


@dataclass(frozen=True)
class ValueMask:
    name: str
    pattern: str
    replacement: str
    contains: str = ""
    """Optional literal every match contains (e.g. ``@``): values without it skip the regex, which
    makes a mask nearly free on values it cannot match."""


@dataclass(frozen=True)
class Redaction:
    drop_keys: tuple[str, ...] = DEFAULT_DROP
    hash_keys: tuple[str, ...] = ()
    db_statement_keys: tuple[str, ...] = ("db.statement", "db.query.text")
    value_masks: tuple[ValueMask, ...] = field(
        default_factory=lambda: tuple(ValueMask(*m) for m in DEFAULT_MASKS)
    )
    max_value_chars: int = 16_384
    max_attributes: int = 256

    # ------------------------------------------------------------------ SQL
    def keep_key(self, key: str) -> str:
        """SQL boolean: keep an attribute whose key is the expression ``key``."""
        drop = _globs_condition(self.drop_keys, key)
        return f"NOT ({drop})" if drop else "1"

    def value(self, key: str, value: str, is_text: str = "1") -> str:
        """SQL string: the stored form of attribute ``value`` under ``key``; ``is_text`` (SQL
        boolean) says whether the value is textual (value masks apply only then)."""
        base = value
        if self.db_statement_keys:
            keys = ", ".join(sql_str(k) for k in self.db_statement_keys)
            is_db = f"lower({key}) IN ({keys})"
            # ClickHouse evaluates both branches inside lambdas: feed the regexes '' for other keys.
            only_db = f"if({is_db}, {value}, '')"
            base = f"if({is_db}, {mask_sql_literals(only_db)}, {value})"
        limit = int(self.max_value_chars)
        expr = f"if({is_text}, {self.text(base)}, leftUTF8({base}, {limit}))" if self.value_masks else self.text(base)
        hashed = _globs_condition(self.hash_keys, key)
        if hashed:
            expr = f"if({hashed}, lower(hex(SHA256({value}))), {expr})"
        return expr

    def text(self, value: str) -> str:
        """SQL string: ``value`` with the value masks applied and truncated (log bodies too)."""
        expr = value
        for m in self.value_masks:
            if m.contains:
                # both branches are evaluated inside lambdas: the regex sees '' unless the literal is there
                has = f"position({expr}, {sql_str(m.contains)}) > 0"
                replaced = f"replaceRegexpAll(if({has}, {expr}, ''), {sql_str(m.pattern)}, {sql_str(m.replacement)})"
                expr = f"if({has}, {replaced}, {expr})"
            else:
                expr = f"replaceRegexpAll({expr}, {sql_str(m.pattern)}, {sql_str(m.replacement)})"
        return f"leftUTF8({expr}, {int(self.max_value_chars)})"


def _globs_condition(globs: tuple[str, ...], key: str) -> str:
    """SQL boolean: ``key`` matches any glob (case-insensitive). Exact names become an ``IN`` set and
    ``*word*`` globs one multi-substring search; only other shapes fall back to a regex."""
    exact = [g.lower() for g in globs if "*" not in g]
    contains = [g.lower().strip("*") for g in globs if g.startswith("*") and g.endswith("*") and g.count("*") == 2
                and len(g) > 2]
    rest = [g for g in globs if "*" in g and g.lower().strip("*") not in contains]
    parts = []
    if exact:
        parts.append(f"lower({key}) IN ({', '.join(sql_str(e) for e in exact)})")
    if contains:
        parts.append(f"multiSearchAnyCaseInsensitive({key}, [{', '.join(sql_str(c) for c in contains)}])")
    if rest:
        alts = "|".join(re.escape(g.lower()).replace(r"\*", ".*") for g in rest)
        parts.append(f"match({key}, {sql_str(f'(?i)^(?:{alts})$')})")
    return " OR ".join(parts)


def mask_sql_literals(expr: str) -> str:
    """Replace quoted strings and numeric literals in a SQL statement expression with ``?``."""
    strings = r"'(?:[^'\\]|\\.|'')*'"
    numbers = r"\b\d+(?:\.\d+)?\b"
    return f"replaceRegexpAll(replaceRegexpAll({expr}, {sql_str(strings)}, '?'), {sql_str(numbers)}, '?')"


def sql_str(text: str) -> str:
    """A ClickHouse string literal for ``text``."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _strings(data: dict[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = data.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RedactionError(f"{key} must be a list of non-empty strings")
    return tuple(value)


def load(path: str) -> Redaction:
    """Rules from a YAML file; missing keys keep their defaults; ``''`` → all defaults."""
    if not path:
        return Redaction()
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RedactionError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise RedactionError(f"{path}: top level must be a mapping")
    known = {"drop_keys", "hash_keys", "db_statement_keys", "value_masks", "max_value_chars", "max_attributes"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RedactionError(f"{path}: unknown keys {unknown}")
    masks = []
    defaults = [{"name": n, "pattern": p, "replacement": r, "contains": c} for n, p, r, c in DEFAULT_MASKS]
    for item in data.get("value_masks", defaults):
        if not isinstance(item, dict) or not isinstance(item.get("pattern"), str):
            raise RedactionError("every value_masks entry needs a pattern")
        try:
            re.compile(item["pattern"])
        except re.error as exc:
            raise RedactionError(f"value mask {item.get('name', item['pattern'])!r}: {exc}") from exc
        masks.append(ValueMask(str(item.get("name", "")), item["pattern"], str(item.get("replacement", "<redacted>")),
                               str(item.get("contains", ""))))
    limits = {}
    for key, default in (("max_value_chars", 16_384), ("max_attributes", 256)):
        v = data.get(key, default)
        if not isinstance(v, int) or v < 1:
            raise RedactionError(f"{key} must be a positive integer")
        limits[key] = v
    return Redaction(
        drop_keys=_strings(data, "drop_keys", DEFAULT_DROP),
        hash_keys=_strings(data, "hash_keys", ()),
        db_statement_keys=tuple(
            k.lower() for k in _strings(data, "db_statement_keys", ("db.statement", "db.query.text"))
        ),
        value_masks=tuple(masks),
        **limits,
    )
