"""``vigil rules check`` / :mod:`alerts.rulefile` give promtool 2.42's verdicts on valid and broken rule files.

Each case's expected verdict and position were read off ``promtool check rules`` 2.42; with promtool
installed (CI: ``VIGIL_TEST_REQUIRE_PROMTOOL``) the test also runs it on every case and compares exit codes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from alerts.rulefile import load_rule_file, rule_count
from tests.promtool import promtool
from vigil.cli import main

CASES: dict[str, str] = {
 "good": """groups:
  - name: api
    interval: 30s
    rules:
      - record: job:http_requests:rate5m
        expr: sum by (job) (rate(http_requests_total[5m]))
      - alert: HighErrorRate
        expr: job:http_requests:rate5m > 10
        for: 10m
        keep_firing_for: 5m
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.job }} is failing"
""",
 "empty": "",
 "bad_expr": """groups:
  - name: g
    rules:
      - alert: A
        expr: sum(rate(x[5m])
""",
 "both": """groups:
  - name: g
    rules:
      - alert: A
        record: b
        expr: up
""",
 "neither": """groups:
  - name: g
    rules:
      - expr: up
""",
 "no_expr": """groups:
  - name: g
    rules:
      - alert: A
""",
 "dup_group": """groups:
  - name: g
    rules: []
  - name: g
    rules: []
""",
 "record_for": """groups:
  - name: g
    rules:
      - record: a:b
        expr: up
        for: 5m
""",
 "bad_record_name": """groups:
  - name: g
    rules:
      - record: 1abc
        expr: up
""",
 "bad_label": """groups:
  - name: g
    rules:
      - alert: A
        expr: up
        labels:
          1bad: x
""",
 "name_label": """groups:
  - name: g
    rules:
      - record: a
        expr: up
        labels:
          __name__: x
""",
 "unknown_key": """groups:
  - name: g
    rules:
      - alert: A
        expr: up
        severity: page
""",
 "bad_for": """groups:
  - name: g
    rules:
      - alert: A
        expr: up
        for: 5 minutes
""",
 "bad_yaml": """groups:
  - name: g
    rules:
    - alert: A
       expr: up
""",
 "empty_name": """groups:
  - name: ""
    rules: []
""",
 "bad_type_expr": """groups:
  - name: g
    rules:
      - alert: A
        expr: rate(up)
""",
 "number_label": """groups:
  - name: g
    rules:
      - alert: A
        expr: up
        labels:
          severity: 3
""",
}


# case -> the position (line:col) the first problem names; promtool gives the same where it gives one.
PROBLEM_AT = {
    "bad_expr": "5:15", "bad_record_name": "4:17", "bad_type_expr": "5:15", "both": "4:9", "neither": "4:9",
    "no_expr": "4:9", "dup_group": "4:11", "record_for": "6:14", "bad_label": "7:17", "name_label": "7:21",
    "unknown_key": "6", "bad_for": "6:14", "bad_yaml": "5", "empty_name": "2:11",
}
VALID = {"good": 2, "empty": 0, "number_label": 1}


@pytest.mark.parametrize("case", sorted(CASES))
def test_verdict_and_position(case: str, tmp_path: Path) -> None:
    path = tmp_path / f"{case}.yml"
    path.write_text(CASES[case])
    groups, problems = load_rule_file(path)
    if case in VALID:
        assert problems == []
        assert rule_count(groups) == VALID[case]
    else:
        assert problems, case
        assert problems[0].startswith(f"{path}:{PROBLEM_AT[case]}:"), problems
        assert groups == []


def test_the_parser_message_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "r.yml"
    path.write_text(CASES["bad_expr"])
    _, problems = load_rule_file(path)
    assert problems == [f'{path}:5:15: group "g", rule 1, "A": could not parse expression: '
                        "parse error: unclosed left parenthesis"]


def test_loaded_rules_carry_their_fields(tmp_path: Path) -> None:
    path = tmp_path / "good.yml"
    path.write_text(CASES["good"])
    (group,), problems = load_rule_file(path)
    assert problems == [] and group.name == "api" and group.interval_ms == 30_000
    record, alert = group.rules
    assert (record.kind, record.name) == ("record", "job:http_requests:rate5m")
    assert (alert.kind, alert.for_ms, alert.keep_firing_for_ms) == ("alert", 600_000, 300_000)
    assert alert.labels == {"severity": "page"} and "$labels.job" in alert.annotations["summary"]


def test_cli_exit_codes_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.yml", tmp_path / "bad.yml"
    good.write_text(CASES["good"])
    bad.write_text(CASES["bad_expr"])
    assert main(["rules", "check", str(good)]) == 0
    assert "SUCCESS: 2 rules found" in capsys.readouterr().out
    assert main(["rules", "check", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"Checking {bad}\n  FAILED:\n{bad}:5:15:" in out
    assert main(["rules", "check", str(tmp_path / "missing.yml")]) == 1
    assert "cannot read" in capsys.readouterr().out


def test_promtool_gives_the_same_verdicts(tmp_path: Path) -> None:
    exe = promtool()
    for case, text in CASES.items():
        path = tmp_path / f"{case}.yml"
        path.write_text(text)
        run = subprocess.run([exe, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
        assert run.returncode == (0 if case in VALID else 1), (case, run.stdout, run.stderr)
