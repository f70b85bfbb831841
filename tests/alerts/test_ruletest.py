"""``vigil rules test`` / :mod:`alerts.ruletest` give promtool 2.42's verdicts and output.

Every file in ``parity/`` must pass both ``promtool test rules`` and our runner. The files in
``failing/`` fail on purpose: our stdout, stderr and exit code must equal promtool's byte for byte (both
run from that directory, so the paths printed are the same). Without promtool those halves skip, unless
``VIGIL_TEST_REQUIRE_PROMTOOL`` is set.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from alerts.ruletest import go_duration, run_file
from query.promql.exprtest import model_duration
from tests.promtool import promtool
from vigil.cli import main

HERE = Path(__file__).parent
PARITY = sorted((HERE / "parity").glob("*.yml"))
FAILING = sorted((HERE / "failing").glob("failing*.yml"))


@pytest.mark.parametrize("path", PARITY, ids=[p.stem for p in PARITY])
def test_our_runner_passes_the_parity_file(path: Path) -> None:
    result = run_file(path)
    assert (result.warnings, result.errors) == ([], [])


@pytest.mark.parametrize("path", PARITY, ids=[p.stem for p in PARITY])
def test_promtool_passes_the_same_file(path: Path) -> None:
    run = subprocess.run([promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def _ours(args: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["rules", "test", *args])
    out, err = capfd.readouterr()
    return code, out, err


@pytest.mark.parametrize("path", FAILING, ids=[p.stem for p in FAILING])
def test_a_failing_file_prints_what_promtool_prints(path: Path, capfd: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(path.parent)
    ours = _ours([path.name], capfd)
    assert ours[0] == 1 and "  FAILED:\n" in ours[2]
    run = subprocess.run([promtool(), "test", "rules", path.name], capture_output=True, text=True, timeout=60)
    assert ours == (run.returncode, run.stdout, run.stderr)


def test_failure_messages_of_alerts_and_expressions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(HERE / "failing")
    result = run_file("failing.yml")
    assert result.warnings == ["  WARNING: no file match pattern missing_*.yml"]
    assert result.errors[0] == (
        "    name: wrong expectations,\n    alertname: Up, time: 1m, \n        exp:[\n            0:\n"
        '              Labels:{alertname="Up", instance="a", severity="low"}\n'
        '              Annotations:{summary="a is down"},\n            1:\n'
        '              Labels:{alertname="Up", instance="b", severity="high"}\n'
        "              Annotations:{}\n            ], \n        got:[\n            0:\n"
        '              Labels:{alertname="Up", instance="a", severity="low"}\n'
        '              Annotations:{summary="a is up"}\n            ]')
    assert result.errors[3] == '    expr: "\\"text\\"", time: 1m, err: rule result is not a vector or scalar'
    assert len(result.errors) == 5


def test_cli_success_output_and_exit_code(capfd: pytest.CaptureFixture[str]) -> None:
    path = str(PARITY[0])
    assert _ours([path, path], capfd) == (0, f"Unit Testing:  {path}\n  SUCCESS\n\n" * 2, "")


def test_cli_missing_file_stops_before_any_test(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yml"
    code, out, err = _ours([str(PARITY[0]), str(missing)], capfd)
    assert (code, out) == (1, "") and err == f"vigil: error: path '{missing}' does not exist, try --help\n"


BAD = {
    "unknown_key": ("tests:\n  - interval: 1m\n    inputs: []\n",
                    "yaml: unmarshal errors:\n  line 3: field inputs not found in type main.testGroup"),
    "bad_duration": ("evaluation_interval: 5 minutes\n", 'not a valid duration string: "5 minutes"'),
    "bad_float": ("tests:\n  - promql_expr_test:\n      - expr: up\n        exp_samples:\n"
                  "          - value: one\n",
                  "yaml: unmarshal errors:\n  line 5: cannot unmarshal !!str `one` into float64"),
    "bad_series": ("tests:\n  - interval: 1m\n    input_series:\n      - series: 'up{a=\"1\"'\n        values: '1'\n",
                   "1:10: parse error: unexpected character inside braces: '1'"),
    "repeated_group": ("group_eval_order: [a, a]\n", "group name repeated in evaluation order: a"),
    "no_alertname": ("tests:\n  - alert_rule_test:\n      - eval_time: 90s\n",
                     "an item under alert_rule_test misses required attribute alertname at eval_time 1m30s"),
    "bad_rule_file": ("rule_files: [rules.yml]\ntests:\n  - interval: 1m\n",
                      "rules.yml: yaml: unmarshal errors:\n  line 4: field exp not found in type rulefmt.RuleNode"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gives_promtools_error(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    Path("rules.yml").write_text("groups:\n  - name: g\n    rules:\n      - exp: up\n        record: r\n")
    text, message = BAD[case]
    Path("t.yml").write_text(text)
    assert run_file("t.yml").errors == [message]
    ours = _ours(["t.yml"], capfd)
    assert ours == (1, "Unit Testing:  t.yml\n\n\n", f"  FAILED:\n{message}\n")
    run = subprocess.run([promtool(), "test", "rules", "t.yml"], capture_output=True, text=True, timeout=60)
    assert ours == (run.returncode, run.stdout, run.stderr)


def test_the_default_input_interval_is_zero(tmp_path: Path) -> None:
    path = tmp_path / "t.yml"
    path.write_text("tests:\n  - input_series:\n      - series: x\n        values: '_ 7 8'\n"
                    "    promql_expr_test:\n      - expr: x\n        eval_time: 4m\n"
                    "        exp_samples:\n          - labels: x\n            value: 7\n")
    assert run_file(path).errors == []


def test_durations_print_as_go_prints_them() -> None:
    assert [model_duration(ms) for ms in (0, 90_000, 3_600_000, 14 * 86_400_000, 86_400_000 + 1)] == \
        ["0s", "1m30s", "1h", "2w", "1d1ms"]
    assert [go_duration(ms) for ms in (0, 500, 60_000, 3_723_500)] == ["0s", "500ms", "1m0s", "1h2m3.5s"]


def _both(tmp_path: Path, files: dict[str, str], monkeypatch: pytest.MonkeyPatch,
          capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        Path(name).write_text(text)
    ours = _ours(["t.yml"], capfd)
    run = subprocess.run([promtool(), "test", "rules", "t.yml"], capture_output=True, text=True, timeout=60)
    assert ours == (run.returncode, run.stdout, run.stderr)
    return ours


def test_templates_of_rule_files_are_checked_when_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    rules = ("groups:\n  - name: g\n    rules:\n      - alert: T\n        expr: up\n"
             "        annotations:\n          a: '{{ .Foo'\n")
    code, _, err = _both(tmp_path, {"r.yml": rules, "t.yml": "rule_files: [r.yml]\ntests:\n  - interval: 1m\n"},
                         monkeypatch, capfd)
    assert code == 1 and 'r.yml: group "g", rule 1, "T": annotation "a": template: __alert_T:1: unclosed action' in err


def test_expected_samples_with_equal_labels_print_in_promtools_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capfd: pytest.CaptureFixture[str]) -> None:
    test = ("tests:\n  - interval: 1m\n    promql_expr_test:\n      - expr: vector(1)\n        exp_samples:\n"
            "          - value: 1\n          - labels: ''\n            value: 2\n")
    _, _, err = _both(tmp_path, {"t.yml": test}, monkeypatch, capfd)
    assert "exp: {} 2E+00, {} 1E+00\n" in err


def test_template_errors_at_evaluation_become_the_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capfd: pytest.CaptureFixture[str]) -> None:
    rules = ("groups:\n  - name: g\n    rules:\n      - alert: T\n        expr: up\n        annotations:\n"
             "          a: '{{ .Nope }}'\n          c: '{{ pathPrefix }}'\n          e: ''\n")
    test = ("rule_files: [r.yml]\ntests:\n  - interval: 1m\n    input_series:\n      - series: up\n"
            "        values: '1'\n    alert_rule_test:\n      - eval_time: 0m\n        alertname: T\n")
    _, _, err = _both(tmp_path, {"r.yml": rules, "t.yml": test}, monkeypatch, capfd)
    assert 'a="<error expanding template: error executing template __alert_T: ' in err and 'e=""}' in err
