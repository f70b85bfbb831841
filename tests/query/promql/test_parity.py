"""Same verdicts as promtool 2.42: every file in ``parity/`` passes both ``promtool test rules`` and our runner.

promtool is the reference: whatever way a file's expected values were first written (by hand from 2.42's
rules, or from the engine's answers — docs/promql.md says which file is which), promtool must accept them.
Without promtool the promtool half is skipped, unless ``VIGIL_TEST_REQUIRE_PROMTOOL`` is set (as in CI).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from query.promql.exprtest import run_file
from tests.promtool import promtool

PARITY = sorted((Path(__file__).parent / "parity").glob("*.yml"))


@pytest.mark.parametrize("path", PARITY, ids=[p.stem for p in PARITY])
def test_our_runner_passes_the_file(path: Path) -> None:
    assert [f.message for f in run_file(path)] == []


@pytest.mark.parametrize("path", PARITY, ids=[p.stem for p in PARITY])
def test_promtool_passes_the_same_file(path: Path) -> None:
    run = subprocess.run([promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_wrong_expectation_fails_in_both_with_the_same_got_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("""
tests:
  - interval: 1m
    input_series:
      - series: 'v{i="1"}'
        values: '1'
      - series: 'v{i="2"}'
        values: '2'
      - series: 'v{i="3"}'
        values: '3'
    promql_expr_test:
      - expr: avg(v)
        eval_time: 0
        exp_samples:
          - labels: '{}'
            value: 2.5
""")
    ours = run_file(bad)
    assert len(ours) == 1
    assert "got: {} 2E+00" in ours[0].message
    run = subprocess.run([promtool(), "test", "rules", str(bad)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "got: {} 2E+00" in run.stdout + run.stderr
