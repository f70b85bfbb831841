"""Routing-tree parity with ``amtool config routes test`` (Alertmanager 0.25)."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import pytest

from alerts.am_matchers import MatcherError, parse_matchers
from alerts.amconfig import load_amconfig
from tests.amtool import amtool

CFG = Path(__file__).parent / "amconfigs" / "routing.yml"
AXES = {"team": ["db", "web", None], "severity": ["crit", "info", None], "env": ["prod", "dev", None],
        "region": ["eu", None], "service": ["api", None]}
CASES = [{k: v for k, v in zip(AXES, combo, strict=True) if v is not None}
         for combo in itertools.product(*AXES.values())][::3]


@pytest.mark.parametrize("labels", CASES, ids=lambda d: ",".join(f"{k}={v}" for k, v in d.items()) or "empty")
def test_routes_match_amtool(labels: dict[str, str]) -> None:
    args = [f"{k}={v}" for k, v in labels.items()] or ["x=y"]
    res = subprocess.run([amtool(), "config", "routes", "test", f"--config.file={CFG}", *args],
                         capture_output=True, text=True, check=True)
    expected = res.stdout.strip().split(",")
    got = [r.receiver for r in load_amconfig(CFG).route.match(labels)]
    assert got == expected


def test_inheritance_and_group_key() -> None:
    root = load_amconfig(CFG).route
    (r,) = root.match({"team": "db", "severity": "crit"})[:1]
    assert r.receiver == "db-pager" and r.group_by_all
    assert r.group_labels({"a": "1", "b": "2"}) == {"a": "1", "b": "2"}
    (d,) = root.match({"x": "y"})
    assert d.group_by == ("alertname",) and d.group_wait_ms == 30_000 and d.repeat_interval_ms == 4 * 3_600_000
    assert d.group_key({"alertname": "A", "z": "q"}) == '{}:{alertname="A"}'
    assert r.group_key({"b": "2", "a": "1"}) == '{}/{team="db"}/{severity=~"crit|page"}:{a="1", b="2"}'


def test_matcher_syntax() -> None:
    ms = parse_matchers('{a="b", c=~"x|y", d!=e, f!~"q\\"r",}')
    assert [(m.name, m.op, m.value) for m in ms] == [("a", "=", "b"), ("c", "=~", "x|y"), ("d", "!=", "e"),
                                                    ("f", "!~", 'q"r')]
    assert ms[1].matches("x") and not ms[1].matches("xx")
    for bad in ['a~="b"', '{a="b"', 'a="b', '1a="b"', 'a=~"("']:
        with pytest.raises(MatcherError):
            parse_matchers(bad)
