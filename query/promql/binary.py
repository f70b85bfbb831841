"""Binary operators with Prometheus 2.42 semantics.

Arithmetic, comparisons (filtering or ``bool``), set operators, and vector matching (``on``/``ignoring``,
``group_left``/``group_right``).

Evaluated for all steps at once: series are grouped by their matching signature once, and each
group's per-step presence decides the matches, so a range query gives what 2.42 gives step by step —
including its errors (duplicate series on the "one" side of a match at some step, many-to-one
matching without ``group_*``, output label sets that collide at a step).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import promql_parser as pp

from query.promql.model import (
    NAME,
    BoolArray,
    FloatArray,
    Labels,
    PromQLError,
    Scalar,
    Value,
    Vector,
    VSeries,
    drop_name,
    format_labels,
    labels_of,
)

ARITHMETIC = {"+", "-", "*", "/", "%", "^", "atan2"}
COMPARISON = {"==", "!=", ">", "<", ">=", "<="}
SET = {"and", "or", "unless"}


def _arith(op: str, a: FloatArray, b: FloatArray) -> FloatArray:
    with np.errstate(all="ignore"):
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        if op == "%":
            return np.fmod(a, b)  # Go's math.Mod: the result takes the sign of a
        if op == "^":
            return np.power(a, b)
        return np.arctan2(a, b)


_CMP: dict[str, Callable[[FloatArray, FloatArray], BoolArray]] = {
    "==": np.equal, "!=": np.not_equal, ">": np.greater, "<": np.less, ">=": np.greater_equal,
    "<=": np.less_equal}


def elem(op: str, lv: FloatArray, rv: FloatArray) -> tuple[FloatArray, BoolArray]:
    """``(value, keep)`` of ``lv op rv`` elementwise (2.42's vectorElemBinop): a comparison keeps ``lv``."""
    if op in ARITHMETIC:
        return _arith(op, lv, rv), np.ones(lv.shape, dtype=np.bool_)
    with np.errstate(invalid="ignore"):
        return lv.copy(), _CMP[op](lv, rv)


def scalar_scalar(op: str, a: Scalar, b: Scalar) -> Scalar:
    """Scalar op scalar (comparisons need ``bool``, which the parser enforces): 1 or 0."""
    if op in ARITHMETIC:
        return Scalar(_arith(op, a.values, b.values))
    _, keep = elem(op, a.values, b.values)
    return Scalar(keep.astype(np.float64))


def vector_scalar(op: str, vec: Vector, sc: Scalar, scalar_left: bool, return_bool: bool) -> Vector:
    """Vector op scalar (or scalar op vector when ``scalar_left``); a filter keeps the vector's value."""
    out: list[VSeries] = []
    drop = op in ARITHMETIC or return_bool
    for s in vec.series:
        lv, rv = (sc.values, s.values) if scalar_left else (s.values, sc.values)
        value, keep = elem(op, lv, rv)
        if op in COMPARISON and scalar_left:
            value = rv.copy()
        if return_bool:
            value, keep = keep.astype(np.float64), np.ones_like(keep)
        present = s.present & keep
        if present.any():
            out.append(VSeries(drop_name(s.labels) if drop else s.labels, np.where(present, value, np.nan),
                               present))
    return Vector(out)


def _signature(labels: Labels, on: bool, names: frozenset[str]) -> Labels:
    if on:
        return tuple(p for p in labels if p[0] in names)
    return tuple(p for p in labels if p[0] not in names and p[0] != NAME)


def _groups(vec: Vector, on: bool, names: frozenset[str]) -> dict[Labels, list[VSeries]]:
    g: dict[Labels, list[VSeries]] = defaultdict(list)
    for s in vec.series:
        g[_signature(s.labels, on, names)].append(s)
    return g


def _any_present(members: list[VSeries], n: int) -> BoolArray:
    acc = np.zeros(n, dtype=np.bool_)
    for m in members:
        acc |= m.present
    return acc


def set_op(op: str, lhs: Vector, rhs: Vector, on: bool, names: frozenset[str], n: int) -> Vector:
    """``and`` / ``or`` / ``unless`` (many-to-many by definition)."""
    rg = _groups(rhs, on, names)
    rany = {sig: _any_present(ms, n) for sig, ms in rg.items()}
    none = np.zeros(n, dtype=np.bool_)
    out: list[VSeries] = []
    if op in ("and", "unless"):
        for s in lhs.series:
            other = rany.get(_signature(s.labels, on, names), none)
            present = s.present & (other if op == "and" else ~other)
            if present.any():
                out.append(VSeries(s.labels, np.where(present, s.values, np.nan), present))
        return Vector(out)
    lg = _groups(lhs, on, names)
    lany = {sig: _any_present(ms, n) for sig, ms in lg.items()}
    out = [VSeries(s.labels, s.values, s.present) for s in lhs.series]  # sample times only from a bare selector
    for sig, members in rg.items():
        taken = lany.get(sig, none)
        for s in members:
            present = s.present & ~taken
            if present.any():
                out.append(VSeries(s.labels, np.where(present, s.values, np.nan), present))
    return Vector(out)


def _result_labels(many: Labels, one: Labels, drop: bool, card: Any, on: bool, names: frozenset[str],
                   include: list[str]) -> Labels:
    labels = drop_name(many) if drop else many
    if card == pp.VectorMatchCardinality.OneToOne:
        return tuple(p for p in labels if p[0] in names) if on else tuple(p for p in labels if p[0] not in names)
    if not include:
        return labels
    d = dict(labels)
    od = dict(one)
    for name in include:
        if name in od:
            d[name] = od[name]
        else:
            d.pop(name, None)
    return labels_of(d)


def _check_one_side(one_groups: dict[Labels, list[VSeries]], card: Any, n: int) -> None:
    """2.42's error for a match group with two series present at one step on the "one" side."""
    for sig, members in one_groups.items():
        count = np.zeros(n, dtype=np.int64)
        for m in members:
            count += m.present
        if (count > 1).any():
            side = "right" if card != pp.VectorMatchCardinality.OneToMany else "left"
            raise PromQLError(
                f"found duplicate series for the match group {format_labels(sig)} on the {side} hand-side of the "
                f"operation: [{', '.join(format_labels(m.labels) for m in members[:2])}];many-to-many matching "
                "not allowed: matching labels must be unique on one side")


def vector_vector(op: str, lhs: Vector, rhs: Vector, modifier: Any, n: int) -> Vector:
    """Arithmetic or comparison between two vectors with vector matching."""
    return_bool = bool(modifier.return_bool) if modifier is not None else False
    card = modifier.card if modifier is not None else pp.VectorMatchCardinality.OneToOne
    matching = modifier.matching if modifier is not None else None
    on = matching is not None and matching.type == pp.LabelModifierType.Include
    names = frozenset(matching.labels) if matching is not None else frozenset()
    include = list(modifier.group_labels or []) if modifier is not None else []
    many, one = (rhs, lhs) if card == pp.VectorMatchCardinality.OneToMany else (lhs, rhs)
    drop = op in ARITHMETIC or return_bool
    one_groups = _groups(one, on, names)
    out: dict[Labels, VSeries] = {}
    # For one-to-one, several "many"-side series with one signature must not match at the same step.
    matched_count: dict[Labels, np.ndarray] = {}
    _check_one_side(one_groups, card, n)
    for s in many.series:
        sig = _signature(s.labels, on, names)
        members = one_groups.get(sig)
        if not members:
            continue
        for o in members:
            both = s.present & o.present
            if not both.any():
                continue
            lv, rv = (o.values, s.values) if card == pp.VectorMatchCardinality.OneToMany else (s.values, o.values)
            value, keep = elem(op, lv, rv)
            if return_bool:
                value, keep = keep.astype(np.float64), np.ones_like(keep)
            present = both & keep
            if card == pp.VectorMatchCardinality.OneToOne:
                seen = matched_count.setdefault(sig, np.zeros(n, dtype=np.int64))
                if (seen[both] > 0).any():
                    raise PromQLError("multiple matches for labels: many-to-one matching must be explicit "
                                      "(group_left/group_right)")
                seen += both
            if not present.any():
                continue
            labels = _result_labels(s.labels, o.labels, drop, card, on, names, include)
            prev = out.get(labels)
            if prev is None:
                out[labels] = VSeries(labels, np.where(present, value, np.nan), present)
                continue
            if (prev.present & present).any():
                raise PromQLError("multiple matches for labels: grouping labels must ensure unique matches")
            prev.values = np.where(present, value, prev.values)
            prev.present = prev.present | present
    return Vector(list(out.values()))


def binary(op: str, lhs: Value, rhs: Value, modifier: Any, n: int) -> Value:
    """Dispatch ``lhs op rhs`` on the operand types."""
    return_bool = bool(modifier.return_bool) if modifier is not None else False
    if isinstance(lhs, Scalar) and isinstance(rhs, Scalar):
        return scalar_scalar(op, lhs, rhs)
    if isinstance(lhs, Vector) and isinstance(rhs, Scalar):
        return vector_scalar(op, lhs, rhs, False, return_bool)
    if isinstance(lhs, Scalar) and isinstance(rhs, Vector):
        return vector_scalar(op, rhs, lhs, True, return_bool)
    if isinstance(lhs, Vector) and isinstance(rhs, Vector):
        if op in SET:
            matching = modifier.matching if modifier is not None else None
            on = matching is not None and matching.type == pp.LabelModifierType.Include
            names = frozenset(matching.labels) if matching is not None else frozenset()
            return set_op(op, lhs, rhs, on, names, n)
        return vector_vector(op, lhs, rhs, modifier, n)
    raise PromQLError(f"binary operator {op!r} between {type(lhs).__name__} and {type(rhs).__name__}", "bad_data")
