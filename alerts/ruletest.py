"""``vigil rules test``: promtool 2.42's ``test rules`` runner, verdicts and messages.

It lives in ``alerts`` (not ``query.promql``) because it evaluates rule files (:mod:`alerts.rulefile`,
:mod:`alerts.ruleeval`, alert templates); ``query`` must not depend on ``alerts``. The PromQL-only
runner :mod:`query.promql.exprtest` stays (its ``run_file`` loads all input at once, default interval 1m).

:func:`run_file` runs one test file as ``cmd/promtool/unittest.go`` does:

* ``rule_files`` are joined to the test file's directory (unless absolute), cleaned and globbed; a
  pattern matching nothing is the warning ``  WARNING: no file match pattern P``. Rule files are loaded
  per test group (so their errors are repeated for each group, and absent without groups).
* per test group, input series (``interval``, **default 0**: every value at time 0, the first one kept)
  are loaded lazily: at each evaluation time ``t = 0, evaluation_interval, … <= max eval_time`` the
  samples with time ``<= t`` are written, then every group is evaluated at ``t`` in ``group_eval_order``
  (groups not listed count as position 0; ties keep file order — promtool's order for ties is random).
  A rule error ends the test group with ``    rule: R, time: 1m0s, err: …`` lines (Go durations).
* ``alert_rule_test`` cases at ``eval_time`` in ``[t, t + evaluation_interval)`` are checked against the
  *firing* alerts after the evaluation at ``t``; ``promql_expr_test`` cases run after the last
  evaluation, on the input samples loaded so far and everything the rules wrote (ALERTS included).
* the comparisons and failure messages are promtool's byte for byte (sorted, exact float equality, so an
  expected NaN never matches).

Known differences: PromQL parse errors lack promtool's ``1:5:`` position; PyYAML's syntax-error wording
replaces go-yaml's; rule-file problems are reformatted from :func:`alerts.rulefile.load_rule_file`'s,
which match promtool's for the checks most files fail (unknown keys, names, PromQL); promtool's query
sample limit (10 000) is not enforced.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alerts.ruleeval import FIRING, ActiveAlert, GroupState, StoreAppender, eval_group, query_samples
from alerts.rulefile import RuleGroup, load_rule_file
from alerts.ruletest_yaml import UnitTestFileError, decode, go_quote
from query.promql.engine import Engine
from query.promql.exprtest import go_e, model_duration
from query.promql.memstore import MemoryStore
from query.promql.model import Labels, PromQLError
from query.promql.notation import parse_input_series, parse_series_desc

_PARSE_ERR = re.compile(r"^bad input series .*?: (\d+:\d+: parse error: .*)\Z", re.S)
_UNKNOWN_KEY = re.compile(r"^(.*):(\d+): (\S*): unknown key '(.*?)'; known keys")
_POSITIONED = re.compile(r"^(.*?):(\d+):(\d+): (.*)\Z", re.S)
_NO_POSITION = ("invalid label name", "invalid label value", "invalid annotation name")


@dataclass
class FileResult:
    """What ``test rules`` reports for one file: warnings (stderr, first) and errors (none: SUCCESS)."""

    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def go_duration(ms: int) -> str:
    """Go's ``time.Duration.String()`` of ``ms`` milliseconds: ``0s``, ``500ms``, ``1m0s``, ``1h2m3.5s``."""
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, frac = divmod(rest, 1000)
    secs = f"{s}" + (f".{frac:03d}".rstrip("0") if frac else "") + "s"
    return (f"{h}h{m}m" if h else f"{m}m" if m else "") + secs


def go_labels(labels: Sequence[tuple[str, str]]) -> str:
    """Go's ``labels.Labels.String()``."""
    return "{" + ", ".join(f"{k}={go_quote(v)}" for k, v in labels) + "}"


def _samples_str(samples: list[tuple[Labels, float]]) -> str:
    return ", ".join(f"{go_labels(lab)} {go_e(v)}" for lab, v in samples) if samples else "nil"


def _indent(text: str, indent: str) -> str:
    return ("\n" + indent).join(text.split("\n"))


AlertKey = tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]


def _alerts_str(alerts: list[AlertKey]) -> str:
    if not alerts:
        return "[]"
    parts = [f"{i}:" + _indent(f"\nLabels:{go_labels(lab)}\nAnnotations:{go_labels(ann)}", "  ")
             for i, (lab, ann) in enumerate(alerts)]
    return "[\n" + ",\n".join(parts) + "\n]"


def _rule_file_errors(problems: list[str]) -> list[str]:
    """:func:`load_rule_file`'s problems in promtool's words (``file: line:col: …``)."""
    unknown = [m for p in problems if (m := _UNKNOWN_KEY.match(p))]
    if unknown:
        kinds = {0: "rulefmt.RuleGroups", 1: "rulefmt.RuleGroup"}
        lines = [f"line {m[2]}: field {m[4]} not found in type {kinds.get(m[3].count('['), 'rulefmt.RuleNode')}"
                 for m in unknown]
        return [f"{unknown[0][1]}: yaml: unmarshal errors:\n  " + "\n  ".join(lines)]
    out = []
    for p in problems:
        m = _POSITIONED.match(p)
        if m is None:
            out.append(p)
        elif any(s in m[4] for s in _NO_POSITION):
            out.append(f"{m[1]}: {m[4]}")
        else:
            out.append(f"{m[1]}: {m[2]}:{m[3]}: {m[4]}")
    return out


def _template_errors(path: str) -> list[str]:
    """The template check of rulefmt (``testTemplateParsing``) on alerting rules' labels and annotations."""
    from alerts.templating import TemplateError, check

    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    out = []
    groups = doc.get("groups") if isinstance(doc, dict) else None
    for g in groups if isinstance(groups, list) else []:
        rules = g.get("rules") if isinstance(g, dict) else None
        for i, r in enumerate(rules if isinstance(rules, list) else [], start=1):
            if not isinstance(r, dict) or not r.get("alert"):
                continue
            for what in ("label", "annotation"):
                texts = r.get(what + "s")
                for k, text in (texts.items() if isinstance(texts, dict) else []):
                    try:
                        check(str(text), name=f"__alert_{r['alert']}")
                    except TemplateError as exc:
                        out.append(f'{path}: group "{g.get("name")}", rule {i}, "{r["alert"]}": {what} "{k}": {exc}')
    return out


def _load_rules(files: list[str], order: dict[str, int]) -> tuple[list[RuleGroup], list[str]]:
    groups: dict[tuple[str, str], RuleGroup] = {}
    for f in files:
        loaded, problems = load_rule_file(f)
        templates = [] if any(_UNKNOWN_KEY.match(p) for p in problems) else _template_errors(f)
        problems = [p for p in problems if not p.endswith("unbalanced template delimiters")]
        if problems or templates:
            return [], _rule_file_errors(problems) + templates
        for g in loaded:
            groups[(f, g.name)] = g
    return sorted(groups.values(), key=lambda g: order.get(g.name, 0)), []


def _input(tg: dict[str, Any]) -> list[tuple[Labels, list[tuple[int, float]]]]:
    """The test group's input series (``PromQLError`` with promtool's message for bad notation)."""
    interval = tg["interval"]
    out: dict[Labels, list[tuple[int, float]]] = {}
    for entry in tg["input_series"]:
        try:
            labels, samples = parse_input_series(entry["series"], entry["values"], interval or 1)
        except PromQLError as exc:
            m = _PARSE_ERR.match(exc.message)
            raise PromQLError(m[1] if m else exc.message, "bad_data") from None
        out[labels] = [(0, samples[0][1])] if interval == 0 and samples else samples
    return list(out.items())


def _parse_labels(text: str) -> Labels:
    try:
        return parse_series_desc(text).labels
    except PromQLError as exc:
        m = _PARSE_ERR.match(exc.message)
        raise PromQLError(f"labels {go_quote(text)}: {m[1] if m else exc.message}", "bad_data") from None


def _got_alerts(groups: list[RuleGroup], results: list[list[list[ActiveAlert]]],
                names: set[str]) -> dict[str, list[AlertKey]]:
    got: dict[str, list[AlertKey]] = {}
    for g, per_rule in zip(groups, results, strict=True):
        for rule, alerts in zip(g.rules, per_rule, strict=False):
            if rule.kind == "alert" and rule.name in names:
                got.setdefault(rule.name, []).extend(
                    (tuple(sorted(a.labels.items())), tuple(sorted(a.annotations.items())))
                    for a in alerts if a.state == FIRING)
    return got


def _check_alerts(tg: dict[str, Any], cases: list[dict[str, Any]], got: dict[str, list[AlertKey]]) -> list[str]:
    errs = []
    for case in cases:
        exp = sorted((tuple(sorted({**a["exp_labels"], "alertname": case["alertname"]}.items())),
                      tuple(sorted(a["exp_annotations"].items()))) for a in case["exp_alerts"])
        have = sorted(got.get(case["alertname"], []))
        if exp != have:
            name = f"    name: {tg['name']},\n" if tg["name"] else ""
            errs.append(f"{name}    alertname: {case['alertname']}, time: {model_duration(case['eval_time'])}, \n"
                        f"        exp:{_indent(_alerts_str(exp), ' ' * 12)}, \n"
                        f"        got:{_indent(_alerts_str(have), ' ' * 12)}")
    return errs


def _go_sorted(samples: list[tuple[Labels, float]]) -> list[tuple[Labels, float]]:
    """Sorted as promtool sorts samples (``sort.Slice`` with ``Compare(a, b) <= 0``): by labels, equal ones reversed.

    (Go's insertion sort, used for up to 12 elements, moves each element before the equal ones.)
    """
    return sorted(reversed(samples), key=lambda s: s[0])


def _expr_tests(tg: dict[str, Any], engine: Engine) -> list[str]:
    errs = []
    for case in tg["promql_expr_test"]:
        head = f"    expr: {go_quote(case['expr'])}, time: {model_duration(case['eval_time'])}"
        try:
            got = _go_sorted(query_samples(engine, case["expr"], case["eval_time"]))
            exp = _go_sorted([(_parse_labels(s["labels"]), s["value"]) for s in case["exp_samples"]])
        except PromQLError as exc:
            errs.append(f"{head}, err: {exc.message}")
            continue
        if len(exp) != len(got) or any(a != b for a, b in zip(exp, got, strict=False)):
            errs.append(f"{head},\n        exp: {_samples_str(exp)}\n        got: {_samples_str(got)}")
    return errs


def run_test_group(tg: dict[str, Any], eval_interval: int, order: dict[str, int], rule_files: list[str]) -> list[str]:
    """One entry of ``tests``: its failures in promtool's words (empty when it passes)."""
    try:
        inputs = _input(tg)
    except PromQLError as exc:
        return [exc.message]
    groups, errors = _load_rules(rule_files, order)
    if errors:
        return errors
    by_time: dict[int, list[dict[str, Any]]] = {}
    for case in tg["alert_rule_test"]:
        if not case["alertname"]:
            where = f" (in TestGroup {tg['name']})" if tg["name"] else ""
            return [f"an item under alert_rule_test misses required attribute alertname at eval_time "
                    f"{model_duration(case['eval_time'])}{where}"]
        by_time.setdefault(case["eval_time"], []).append(case)
    alert_times = sorted(by_time)
    max_t = max([c["eval_time"] for c in tg["alert_rule_test"]] + [c["eval_time"] for c in tg["promql_expr_test"]]
                + [0])
    store = MemoryStore()
    append = StoreAppender(store)
    engine = Engine(store, lookback_ms=300_000, default_step_ms=eval_interval)
    states = [GroupState() for _ in groups]
    pos = [0] * len(inputs)
    errs: list[str] = []
    curr = 0
    ext = tg["external_labels"]
    for ts in range(0, max_t + 1, eval_interval):
        for i, (labels, samples) in enumerate(inputs):
            while pos[i] < len(samples) and samples[pos[i]][0] <= ts:
                append(labels, *samples[pos[i]])
                pos[i] += 1
        results: list[list[list[ActiveAlert]]] = []
        eval_errs = []
        for g, st in zip(groups, states, strict=True):
            results.append(eval_group(g, ts, st, engine, append, external_labels=ext,
                                      external_url=tg["external_url"], nil_url_funcs=True)[1])
            eval_errs += [f"    rule: {r.name}, time: {go_duration(ts)}, err: {rs.last_error}"
                          for r, rs in zip(g.rules, st.rules, strict=False) if rs.last_error is not None]
        errs += eval_errs
        if eval_errs:
            return errs
        while curr < len(alert_times) and ts <= alert_times[curr] < ts + eval_interval:
            cases = by_time[alert_times[curr]]
            errs += _check_alerts(tg, cases, _got_alerts(groups, results, {c["alertname"] for c in cases}))
            curr += 1
    return errs + _expr_tests(tg, engine)


def _resolve(base: str, patterns: list[str], warnings: list[str]) -> list[str]:
    files: list[str] = []
    for rf in patterns:
        if rf and not os.path.isabs(rf):
            rf = os.path.normpath(os.path.join(base, rf))
        matches = sorted(glob.glob(rf)) if glob.has_magic(rf) else ([rf] if os.path.lexists(rf) else [])
        if not matches:
            warnings.append(f"  WARNING: no file match pattern {rf}")
        files += matches
    return files


def run_file(path: str | Path) -> FileResult:
    """Run one promtool unit-test file; see the module docstring."""
    name = str(path)
    res = FileResult()
    try:
        text = Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        res.errors.append(f"open {name}: {(exc.strerror or str(exc)).lower()}")
        return res
    except UnicodeDecodeError:
        res.errors.append(f"{name}: not UTF-8 text")
        return res
    try:
        doc = decode(text)
    except UnitTestFileError as exc:
        res.errors.append(str(exc))
        return res
    rule_files = _resolve(os.path.dirname(name) or ".", doc["rule_files"], res.warnings)
    interval = doc["evaluation_interval"] or 60_000
    order: dict[str, int] = {}
    for i, gn in enumerate(doc["group_eval_order"]):
        if gn in order:
            res.errors.append(f"group name repeated in evaluation order: {gn}")
            return res
        order[gn] = i
    for tg in doc["tests"]:
        res.errors += run_test_group(tg, interval, order, rule_files)
    return res
