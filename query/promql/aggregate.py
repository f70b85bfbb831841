"""Aggregation operators with Prometheus 2.42 semantics and float arithmetic order.

Groups are formed once per query by the ``by``/``without`` labels; each step aggregates the members
present at that step, in input order (the order 2.42 iterates), so ``sum``/``avg``/``stddev`` add in
the same order as Prometheus. ``avg`` uses 2.42's incremental mean with its infinity handling,
``stddev``/``stdvar`` its running (Welford) update, ``topk``/``bottomk`` its heap's tie rule (an equal
later value does not displace an earlier one; NaN ranks last), ``quantile`` 2.42's interpolation,
``count_values`` Go's shortest ``'f'`` float formatting for the label value.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from query.promql.functions_range import quantile
from query.promql.model import (
    NAME,
    BoolArray,
    FloatArray,
    IntArray,
    Labels,
    PromQLError,
    Scalar,
    String,
    Value,
    Vector,
    VSeries,
    labels_of,
)

_SIMPLE = {"sum", "min", "max", "avg", "group", "count", "stddev", "stdvar"}


def _key(labels: Labels, by: bool, names: frozenset[str]) -> Labels:
    if by:
        return tuple(p for p in labels if p[0] in names)
    return tuple(p for p in labels if p[0] not in names and p[0] != NAME)


def go_float(v: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'f', -1, 64)`` (shortest exact digits, never an exponent)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return str(np.format_float_positional(v, unique=True, trim="-"))


def _simple(op: str, members: list[VSeries], n: int) -> VSeries | None:
    count = np.zeros(n, dtype=np.int64)
    value = np.zeros(n)
    mean = np.zeros(n)
    for m in members:
        p = m.present
        if not p.any():
            continue
        first = p & (count == 0)
        rest = p & (count > 0)
        v = m.values
        count = count + p
        value = np.where(first, v if op in ("sum", "min", "max") else 0.0, value)
        mean = np.where(first, v, mean)
        if not rest.any():
            continue
        value, mean = _update(op, rest, v, value, mean, count)
    present = count > 0
    if not present.any():
        return None
    with np.errstate(all="ignore"):
        if op == "avg":
            result = mean
        elif op == "count":
            result = count.astype(np.float64)
        elif op == "group":
            result = np.ones(n)
        elif op == "stdvar":
            result = value / count
        elif op == "stddev":
            result = np.sqrt(value / count)
        else:
            result = value
    return VSeries((), np.where(present, result, np.nan), present)


def _update(op: str, rest: BoolArray, v: FloatArray, value: FloatArray, mean: FloatArray,
            count: IntArray) -> tuple[FloatArray, FloatArray]:
    """One member's step of ``op`` where ``rest`` (a group already started at that step)."""
    with np.errstate(all="ignore"):
        if op == "sum":
            value = np.where(rest, value + v, value)
        elif op == "min":
            value = np.where(rest & ((value > v) | np.isnan(value)), v, value)
        elif op == "max":
            value = np.where(rest & ((value < v) | np.isnan(value)), v, value)
        elif op == "avg":
            c = count.astype(np.float64)
            inf_mean = np.isinf(mean)
            skip = inf_mean & ((np.isinf(v) & ((mean > 0) == (v > 0))) | (~np.isinf(v) & ~np.isnan(v)))
            upd = mean + v / c - mean / c
            mean = np.where(rest & ~skip, upd, mean)
        elif op in ("stddev", "stdvar"):
            c = count.astype(np.float64)
            delta = v - mean
            new_mean = mean + delta / c
            value = np.where(rest, value + delta * (v - new_mean), value)
            mean = np.where(rest, new_mean, mean)
    return value, mean


def aggregate(op: str, vec: Vector, param: Value | None, by: bool, names: frozenset[str], n: int) -> Vector:
    """Evaluate ``op [by|without (names)] ([param,] vec)`` at every step."""
    groups: dict[Labels, list[VSeries]] = defaultdict(list)
    for s in vec.series:
        groups[_key(s.labels, by, names)].append(s)
    out: list[VSeries] = []
    if op in _SIMPLE:
        for key, members in groups.items():
            r = _simple(op, members, n)
            if r is not None:
                r.labels = key
                out.append(r)
        return Vector(out)
    if op in ("topk", "bottomk"):
        assert isinstance(param, Scalar)
        return Vector(_topk(op == "topk", groups, param, n))
    if op == "quantile":
        assert isinstance(param, Scalar)
        return Vector(_quantiles(groups, param, n))
    if op == "count_values":
        assert isinstance(param, String)
        return Vector(_count_values(groups, param.value, n))
    raise PromQLError(f"unknown aggregation {op!r}", "bad_data")


def _quantiles(groups: dict[Labels, list[VSeries]], param: Scalar, n: int) -> list[VSeries]:
    out: list[VSeries] = []
    for key, members in groups.items():
        vals = np.full(n, np.nan)
        present = np.zeros(n, dtype=np.bool_)
        for i in range(n):
            here = [float(m.values[i]) for m in members if m.present[i]]
            if here:
                vals[i] = quantile(float(param.values[i]), here)
                present[i] = True
        if present.any():
            out.append(VSeries(key, vals, present))
    return out


def _count_values(groups: dict[Labels, list[VSeries]], label: str, n: int) -> list[VSeries]:
    if not label or not (label[0].isalpha() or label[0] == "_") or not all(
            c.isalnum() or c == "_" for c in label) or not label.isascii():
        raise PromQLError(f"invalid label name {label!r}")
    counts: dict[Labels, VSeries] = {}
    for key, members in groups.items():
        for i in range(n):
            for m in members:
                if not m.present[i]:
                    continue
                lab = labels_of([*(p for p in key if p[0] != label), (label, go_float(float(m.values[i])))])
                s = counts.get(lab)
                if s is None:
                    s = counts[lab] = VSeries(lab, np.zeros(n), np.zeros(n, dtype=np.bool_))
                s.values[i] += 1
                s.present[i] = True
    for s in counts.values():
        s.values = np.where(s.present, s.values, np.nan)
    return list(counts.values())


def _topk(top: bool, groups: dict[Labels, list[VSeries]], param: Scalar, n: int) -> list[VSeries]:
    chosen: dict[int, np.ndarray] = {}
    members_all: dict[int, VSeries] = {}
    for members in groups.values():
        for m in members:
            members_all[id(m)] = m
        for i in range(n):
            k = param.values[i]
            if math.isnan(k):
                raise PromQLError("Parameter value is NaN")
            kk = int(k)
            if kk < 1:
                continue
            here = [(j, m) for j, m in enumerate(members) if m.present[i]]
            if not here:
                continue

            def rank(item: tuple[int, VSeries], i: int = i) -> tuple[int, float, int]:
                v = float(item[1].values[i])
                if math.isnan(v):
                    return (1, 0.0, item[0])
                return (0, -v if top else v, item[0])
            for _, m in sorted(here, key=rank)[:kk]:
                chosen.setdefault(id(m), np.zeros(n, dtype=np.bool_))[i] = True
    out: list[VSeries] = []
    for key, mask in chosen.items():
        m = members_all[key]
        out.append(VSeries(m.labels, np.where(mask, m.values, np.nan), mask))
    return out


def is_aggregation(op: str) -> bool:
    """Whether ``op`` names an aggregation operator."""
    return op in _SIMPLE or op in ("topk", "bottomk", "quantile", "count_values")


def param_needed(op: str) -> bool:
    """Whether the aggregation takes a parameter."""
    return op in ("topk", "bottomk", "quantile", "count_values")


