"""query.promql.notation: promtool's ``input_series`` notation, cross-checked against real promtool 2.42.

The promtool tests need ``promtool`` on PATH; they skip without it unless ``VIGIL_TEST_REQUIRE_PROMTOOL``
is set (``.ci/run`` sets it after installing Debian's ``prometheus`` package), in which case they fail.
"""

from __future__ import annotations

import json
import math
import re
import struct
import subprocess
from pathlib import Path

import pytest

from query.promql.model import NAME, STALE_BITS, Labels, PromQLError
from query.promql.notation import load_input_series, parse_input_series, parse_series_desc
from tests.promtool import promtool

GAP = 600_000  # 10m: longer than the 5m lookback, so an instant query at a step sees that step only


def bits(v: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", v))[0])


def vals(values: str) -> list[float | None]:
    return list(parse_series_desc(f"m {values}").values)


def test_brief_example() -> None:
    labels, samples = parse_input_series('http_requests_total{job="api", instance="0"}',
                                         "1+2x3 _ stale NaN Inf -Inf 1e3 -1-1x2 _x3 5x0 1.5+0.25x4", 1000)
    assert labels == ((NAME, "http_requests_total"), ("instance", "0"), ("job", "api"))
    ts = [t for t, _ in samples]
    assert ts == [0, 1000, 2000, 3000, 5000, 6000, 7000, 8000, 9000, 10000, 11000, 12000,
                  16000, 17000, 18000, 19000, 20000, 21000]
    v = [x for _, x in samples]
    assert v[:4] == [1, 3, 5, 7] and bits(v[4]) == STALE_BITS
    assert math.isnan(v[5]) and bits(v[5]) != STALE_BITS
    assert v[6:] == [math.inf, -math.inf, 1000, -1, -2, -3, 5, 1.5, 1.75, 2.0, 2.25, 2.5]


@pytest.mark.parametrize(("text", "expected"), [
    ("1x2", [1.0, 1.0, 1.0]),
    ("5x0", [5.0]),
    ("_x3 1", [None, None, None, 1.0]),  # _xn is n empty steps, not n+1
    ("_x0 1", [1.0]),
    ("_ _ 2", [None, None, 2.0]),
    ("0x1", [0.0, 0.0]),  # no hexadecimal: "0" repeated once
    ("010 09 0 007", [8.0, 9.0, 0.0, 7.0]),  # a leading 0 is octal (Go ParseInt base 0)
    (".5 5. -0 +7 1E3 1e-400", [0.5, 5.0, -0.0, 7.0, 1000.0, 0.0]),
    ("3-1x3", [3.0, 2.0, 1.0, 0.0]),
    ("-1-1x2", [-1.0, -2.0, -3.0]),
    ("+1+1x1", [1.0, 2.0]),
    ("Inf+0x1 -inf", [math.inf, math.inf, -math.inf]),
    ("1x03", [1.0] * 4),
    ("", []),
    ("  1 \t 2  ", [1.0, 2.0]),
])
def test_values(text: str, expected: list[float | None]) -> None:
    got = vals(text)
    assert got == expected
    assert [math.copysign(1, x) if x is not None else None for x in got] == \
        [math.copysign(1, x) if x is not None else None for x in expected]


def test_repeated_addition_matches_go() -> None:
    got = vals("0.1+0.1x10")
    acc, want = 0.1, []
    for _ in range(11):
        want.append(acc)
        acc += 0.1
    assert got == want and got[-1] != 1.1  # accumulated, not a + i*b


def test_stale_and_nan() -> None:
    v = vals("stale NaN nan stale+1x1")
    assert v[0] is not None and bits(v[0]) == STALE_BITS
    assert all(x is not None and math.isnan(x) for x in v)
    assert v[3] is not None and bits(v[3]) == STALE_BITS
    assert v[4] is not None and bits(v[4]) != STALE_BITS  # stale + 1 is an ordinary NaN


@pytest.mark.parametrize(("series", "labels"), [
    ("foo", ((NAME, "foo"),)),
    ("a:b:c_1", ((NAME, "a:b:c_1"),)),
    ("sum", ((NAME, "sum"),)),  # most keywords are valid metric names
    ('{__name__="x", a="b"}', ((NAME, "x"), ("a", "b"))),
    ('x{__name__="y"}', ((NAME, "x"),)),  # the name beside the braces wins
    ('{a="b",}', (("a", "b"),)),
    ('foo{a="", b="1"}', ((NAME, "foo"), ("b", "1"))),
    ('foo{a="q\\"\\\\\\n\\t\\x41\\101\\u00e9\\U0001F600"}', ((NAME, "foo"), ("a", 'q"\\\n\tAAé\U0001F600'))),
    ("foo{a='it\\'s', b=`r\\aw`}", ((NAME, "foo"), ("a", "it's"), ("b", "r\\aw"))),
    ("foo{on='1', sum='2'}", ((NAME, "foo"), ("on", "1"), ("sum", "2"))),
])
def test_series_labels(series: str, labels: Labels) -> None:
    assert parse_input_series(series, "1")[0] == labels


@pytest.mark.parametrize(("series", "values", "needle"), [
    ("foo", "0x1f", "1:7: parse error: bad number syntax"),
    ("foo", "1+1", "1:8:"),
    ("foo", "Stale", "1:5:"),
    ("foo", "infinity", "1:5:"),
    ("foo", "1e400", "out of range"),
    ("foo", "1x1.5", "invalid repetition"),
    ("foo", "1x-1", "1:7:"),
    ("foo", "1,2", "unexpected character in series sequence"),
    ("foo", "1_", "bad number syntax"),
    ("foo", "_1", "1:6:"),
    ("foo", "stalex2", "stalex2"),
    ("foo", "sum", "1:5:"),
    ("on", "1", "1:1:"),
    ("nan", "1", "1:1:"),
    ('foo{a=~"b"}', "1", "=~"),
    ('foo{a="b"', "1", "unexpected"),
    ('foo{a="\\q"}', "1", "unknown escape"),
    ('foo{a="1", a="2"}', "1", "not unique"),
    ("foo {a=\"b\"}", "1", "unexpected character in series sequence"),
    ("", "", "empty"),
    ("foo", "1\n2", "several lines"),
])
def test_errors(series: str, values: str, needle: str) -> None:
    with pytest.raises(PromQLError) as exc:
        parse_input_series(series, values)
    assert exc.value.error_type == "bad_data"
    assert needle in exc.value.message


def test_load_last_entry_wins() -> None:
    got = load_input_series([("dupe", "1 2 3"), ('dupe{a=""}', "7"), ("other", "_ 1")], GAP)
    assert got == {((NAME, "dupe"),): [(0, 7.0)], ((NAME, "other"),): [(GAP, 1.0)]}


# ---- cross-check against real promtool ---------------------------------------------------------------

CROSS = [
    ("s0", "1+2x3 _ stale NaN Inf -Inf 1e3 -1-1x2 _x3 5x0 1.5+0.25x4"),
    ("s1", "0x1 010 09 .5 5. -0 +7 1e-400"),
    ("s2", "_x3 1 _x0 2 _ _ 3"),
    ("s3", "stale+1x2 3 stale"),
    ("s4", "0.1+0.1x10 1e308+1e308x1"),
    ("s5", "-2+0.5x3 Inf+0x1 nan NaN 3-1x3"),
    ('{__name__="s6", a="b\\n\\x41\\101\\u00e9", b=\'q\\\'\', c=`r\\`}', "1 2"),
    ("sum{x='1'}", "4x2"),
    ('s8{__name__="ignored"}', "9"),
    ("a:b:c", "_ 5 _x1 6"),
    ("dupe", "1 2 3"),
    ("dupe", "7"),
]


def selector(labels: Labels) -> str:
    inner = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in labels)
    return "{" + inner + "}"


def run_promtool(tmp_path: Path, input_series: list[tuple[str, str]], tests: list[dict[str, object]]) -> str:
    doc = {"rule_files": [], "evaluation_interval": "1m", "tests": [{
        "interval": "10m",
        "input_series": [{"series": s, "values": v} for s, v in input_series],
        "promql_expr_test": tests,
    }]}
    path = tmp_path / "notation_test.yml"
    text = json.dumps(doc, ensure_ascii=False)  # JSON is YAML; infinities as YAML's bare .inf
    path.write_text(text.replace('"__+inf__"', ".inf").replace('"__-inf__"', "-.inf"))
    proc = subprocess.run([promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=120)
    return f"rc={proc.returncode}\n{proc.stdout}{proc.stderr}"


def test_promtool_version() -> None:
    out = subprocess.run([promtool(), "--version"], capture_output=True, text=True, check=True)
    assert re.search(r"version 2\.42\.", out.stdout + out.stderr)


def test_cross_check_with_promtool(tmp_path: Path) -> None:
    loaded = load_input_series(CROSS, GAP)
    assert len(loaded) == len(CROSS) - 1
    tests: list[dict[str, object]] = []
    for labels, samples in loaded.items():
        by_t = dict(samples)
        last = max(by_t) if by_t else 0
        sel = selector(labels)
        for t in range(0, last + 2 * GAP, GAP):
            ev = f"{t // 60_000}m"
            v = by_t.get(t)
            if v is not None and math.isnan(v) and bits(v) != STALE_BITS:
                tests.append({"expr": f"count({sel} != {sel})", "eval_time": ev,
                              "exp_samples": [{"labels": "{}", "value": 1}]})
                continue
            exp: list[dict[str, object]] = []
            if v is not None and bits(v) != STALE_BITS:
                val: object = v if math.isfinite(v) else ("__+inf__" if v > 0 else "__-inf__")
                exp = [{"labels": sel, "value": val}]
            tests.append({"expr": sel, "eval_time": ev, "exp_samples": exp})
    out = run_promtool(tmp_path, CROSS, tests)
    assert out.startswith("rc=0"), out


@pytest.mark.parametrize(("series", "values"), [
    ("foo", "0x1f"), ("foo", "1+1"), ("foo", "Stale"), ("foo", "1e400"), ("foo", "1x1.5"),
    ("foo", "_1"), ("foo", "stalex2"), ("on", "1"), ('foo{a=~"b"}', "1"), ('foo{a="\\q"}', "1"),
])
def test_promtool_rejects_what_we_reject(tmp_path: Path, series: str, values: str) -> None:
    with pytest.raises(PromQLError) as exc:
        parse_input_series(series, values, GAP)
    out = run_promtool(tmp_path, [(series, values)], [{"expr": "up", "eval_time": "0m", "exp_samples": []}])
    assert not out.startswith("rc=0") and "parse error" in out, out
    ours = re.search(r"1:\d+:", exc.value.message)
    theirs = re.search(r"1:\d+:", out)
    assert ours is not None and theirs is not None and ours.group() == theirs.group(), (exc.value.message, out)
