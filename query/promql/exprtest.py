"""``promql_expr_test`` cases of promtool's unit-test format, run on the engine over a :class:`MemoryStore`.

A test file is what ``promtool test rules`` 2.42 reads; this module runs the parts that need no rule
evaluation: each test group's ``input_series`` (at its ``interval``, default 1m) and its
``promql_expr_test`` cases (``expr``, ``eval_time``, ``exp_samples`` of ``labels`` in series notation and
``value``). Verdicts follow promtool: got and expected samples are compared as sorted lists with exact
float equality (promtool uses ``reflect.DeepEqual``, so an expected NaN never matches); a failure is
reported as promtool prints it (``expr: …, time: …`` then ``exp:`` / ``got:`` lines, values in Go's
``%E`` form, times as ``model.Duration`` prints them). The whole ``promtool test rules`` (rule files,
``alert_rule_test``, templates, lazy loading of the input) is :mod:`alerts.ruletest` (``vigil rules test``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from contracts.durations import parse_duration_ms
from query.promql.engine import Engine
from query.promql.memstore import MemoryStore
from query.promql.model import Labels, Matrix, PromQLError, Scalar, String, Vector
from query.promql.notation import load_input_series, parse_series_desc


def duration_ms(value: str | int | float) -> int:
    """A YAML value in Prometheus' duration syntax (``1h30m``, ``90s``, ``0``) in milliseconds.

    :class:`~contracts.durations.DurationError` (a ``ValueError``) otherwise.
    """
    return parse_duration_ms(str(value))


def go_e(v: float) -> str:
    """Go's ``%E`` of a float64 with the shortest exact digits, as promtool prints sample values."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    s = f"{v:.16E}"
    for p in range(17):  # the shortest mantissa that reads back as v
        cand = f"{v:.{p}E}"
        if float(cand) == v:
            s = cand
            break
    m, e = s.split("E")
    sign = "-" if e.startswith("-") else "+"
    return f"{m}E{sign}{abs(int(e)):02d}"


def model_duration(ms: int) -> str:
    """Prometheus' ``model.Duration.String()``: ``0s``, ``1m30s``, ``2w`` (years, weeks only when exact)."""
    if ms == 0:
        return "0s"
    out = []
    for unit, size, exact in (("y", 31_536_000_000, True), ("w", 604_800_000, True), ("d", 86_400_000, False),
                              ("h", 3_600_000, False), ("m", 60_000, False), ("s", 1000, False), ("ms", 1, False)):
        if exact and ms % size:
            continue
        if (n := ms // size) > 0:
            out.append(f"{n}{unit}")
            ms -= n * size
    return "".join(out)


@dataclass(frozen=True)
class Failure:
    """One failed case: where it is and promtool's message for it."""

    group: int
    index: int
    message: str


def _samples(value: Any) -> list[tuple[Labels, float]]:
    if isinstance(value, Vector):
        return sorted((s.labels, float(s.values[0])) for s in value.series if s.present[0])
    if isinstance(value, Scalar):
        return [((), float(value.values[0]))]
    if isinstance(value, (String, Matrix)):
        raise PromQLError("promql_expr_test needs a scalar or instant vector result", "bad_data")
    raise PromQLError(f"unexpected result {type(value).__name__}")


def go_labels(labels: Labels) -> str:
    """Go's ``labels.Labels.String()``: ``{__name__="x", a="1"}``, as promtool prints label sets."""
    return "{" + ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in labels) + "}"


def _fmt(samples: list[tuple[Labels, float]]) -> str:
    return ", ".join(f"{go_labels(lab)} {go_e(v)}" for lab, v in samples)


def _same(a: list[tuple[Labels, float]], b: list[tuple[Labels, float]]) -> bool:
    return len(a) == len(b) and all(x[0] == y[0] and x[1] == y[1] for x, y in zip(a, b, strict=True))


def run_group(group: dict[str, Any], number: int, lookback_ms: int = 300_000) -> list[Failure]:
    """Run one test group's ``promql_expr_test`` cases; the failures in promtool's words."""
    interval = duration_ms(group.get("interval", "1m"))
    store = MemoryStore()
    entries = [(str(e["series"]), str(e.get("values", ""))) for e in group.get("input_series") or []]
    for labels, samples in load_input_series(entries, interval).items():
        store.add_series(labels, samples)
    engine = Engine(store, lookback_ms=lookback_ms, default_step_ms=duration_ms(group.get("_evaluation_interval",
                                                                                           "1m")))
    failures: list[Failure] = []
    for i, case in enumerate(group.get("promql_expr_test") or []):
        expr = str(case["expr"])
        t = duration_ms(case.get("eval_time", "0"))
        exp = sorted((parse_series_desc(str(s.get("labels", "{}"))).labels if str(s.get("labels", "")).strip()
                      else (), float(s["value"])) for s in case.get("exp_samples") or [])
        try:
            got = _samples(engine.instant(expr, t))
        except PromQLError as exc:
            failures.append(Failure(number, i, f'    expr: "{expr}", time: {model_duration(t)}, err: {exc.message}'))
            continue
        if not _same(exp, got):
            failures.append(Failure(number, i, f'    expr: "{expr}", time: {model_duration(t)},\n'
                                               f"        exp: {_fmt(exp)}\n        got: {_fmt(got)}"))
    return failures


def run_file(path: Path) -> list[Failure]:
    """Every ``promql_expr_test`` failure of a promtool unit-test file (empty when all pass)."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: list[Failure] = []
    for n, group in enumerate(doc.get("tests") or []):
        group = {**group, "_evaluation_interval": doc.get("evaluation_interval", "1m")}
        out.extend(run_group(group, n))
    return out
