"""Alert-template expansion (:mod:`alerts.templating`) reproduces Prometheus 2.42 / promtool.

``templating/promtool_cases.json`` holds (template, $value, expected) rows; the expected strings are the ones
``promtool test rules`` 2.42 accepts (checked by ``test_promtool_accepts_recorded_expansions`` whenever promtool
is installed), and ``test_expand_matches_recorded`` asserts :func:`alerts.templating.expand_alert` gives them.
The other tests pin facts from Prometheus' template_test.go and Go's text/template documentation.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.templating import Sample, TemplateError, check, expand, expand_alert
from tests.promtool import promtool

CASES: list[dict[str, str]] = json.loads((Path(__file__).parent / "templating" / "promtool_cases.json").read_text())
EXTERNAL_URL = "http://ex.com:9090/pre/fix"
EXTERNAL_LABELS = {"cluster": "c1"}
QUERY_SAMPLE = Sample({"__name__": "q", "instance": "h2:80", "job": "k"}, 42.0)


def _labels(i: int) -> dict[str, str]:
    return {"__name__": "m", "case": str(i), "instance": "h1:9090", "job": "j"}


def _query(expr: str) -> list[Sample]:
    return [QUERY_SAMPLE] if expr == "q" else []


def _x(text: str, value: float = 1.0, **kw: Any) -> str:
    kw.setdefault("labels", {"instance": "h1:9090", "job": "j"})
    return expand(text, value=value, **kw)


@pytest.mark.parametrize("i", range(len(CASES)), ids=[c["template"][:40] for c in CASES])
def test_expand_matches_recorded(i: int) -> None:
    case = CASES[i]
    got = expand_alert(case["template"], labels=_labels(i), value=float(case["value"]), name="__alert_A",
                       external_url=EXTERNAL_URL, external_labels=EXTERNAL_LABELS, query=_query, nil_url_funcs=True)
    assert got == case["expected"]


def test_promtool_accepts_recorded_expansions(tmp_path: Path) -> None:
    exe = promtool()
    rules = [{"alert": "A", "expr": f'm{{case="{i}"}}', "annotations": {"t": c["template"]}}
             for i, c in enumerate(CASES)]
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": rules}]}))
    series = [{"series": 'm{' + ",".join(f'{k}="{v}"' for k, v in _labels(i).items() if k != "__name__") + '}',
               "values": c["value"]} for i, c in enumerate(CASES)]
    series.append({"series": 'q{instance="h2:80",job="k"}', "values": "42"})
    alerts = [{"exp_labels": {k: v for k, v in _labels(i).items() if k != "__name__"},
               "exp_annotations": {"t": c["expected"]}} for i, c in enumerate(CASES)]
    test = {"rule_files": ["rules.yml"], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "external_url": EXTERNAL_URL, "external_labels": EXTERNAL_LABELS,
                       "input_series": series,
                       "alert_rule_test": [{"eval_time": "0m", "alertname": "A", "exp_alerts": alerts}]}]}
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, allow_unicode=True))
    r = subprocess.run([exe, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


@pytest.mark.parametrize(("value", "text"), [
    (0.1, "0.1"), (100000.0, "100000"), (1e6, "1e+06"), (1234567.0, "1.234567e+06"), (1e21, "1e+21"),
    (2.5e-05, "2.5e-05"), (0.0001, "0.0001"), (0.0, "0"), (-0.0, "-0"), (3.0, "3"), (1.5e300, "1.5e+300"),
    (float("nan"), "NaN"), (float("inf"), "+Inf"), (float("-inf"), "-Inf"), (5e-324, "5e-324"),
])
def test_value_prints_like_go_sprint(value: float, text: str) -> None:
    assert _x("{{ $value }}", value) == text
    assert _x("{{ .Value }}", value) == text


@pytest.mark.parametrize(("text", "out"), [  # template_test.go facts, our own cases
    ("{{ humanize 1234567.0 }}", "1.235M"), ("{{ humanize 0.001234 }}", "1.234m"), ("{{ humanize 0 }}", "0"),
    ("{{ humanize 1 }}", "1"), ("{{ humanize 0.12 }}", "120m"), ("{{ humanize -1 }}", "-1"),
    ("{{ humanize 9223372036854775807 }}", "9.223E"), ("{{ humanize \"1234567\" }}", "1.235M"),
    ("{{ humanize1024 1048576 }}", "1Mi"), ("{{ humanize1024 0.12 }}", "0.12"),
    ("{{ humanize1024 1234567 }}", "1.177Mi"),
    ("{{ humanize1024 9223372036854775807 }}", "8Ei"), ("{{ humanizeDuration 3661 }}", "1h 1m 1s"),
    ("{{ humanizeDuration 0 }}", "0s"), ("{{ humanizeDuration 60 }}", "1m 0s"),
    ("{{ humanizeDuration 86400 }}", "1d 0h 0m 0s"),
    ("{{ humanizeDuration -183845 }}", "-2d 3h 4m 5s"), ("{{ humanizeDuration 899.99 }}", "14m 59s"),
    ("{{ humanizeDuration 0.1 }}", "100ms"), ("{{ humanizeDuration 0.0001 }}", "100us"),
    ("{{ humanizeDuration 0.12345 }}", "123.5ms"), ("{{ humanizeDuration 12.345 }}", "12.35s"),
    ("{{ humanizePercentage 0.1234 }}", "12.34%"), ("{{ humanizePercentage -0.22222 }}", "-22.22%"),
    ("{{ humanizePercentage 0.0 }}", "0%"), ("{{ humanizePercentage 1.23456 }}", "123.5%"),
    ("{{ humanizePercentage 1234567 }}", "1.235e+08%"),
    ("{{ humanizeTimestamp 1435065584.128 }}", "2015-06-23 13:19:44.128 +0000 UTC"),
    ("{{ humanizeTimestamp 0 }}", "1970-01-01 00:00:00 +0000 UTC"),
    ("{{ humanizeTimestamp -1 }}", "1969-12-31 23:59:59 +0000 UTC"),
    ("{{ humanizeTimestamp 9223372036 }}", "2262-04-11 23:47:16 +0000 UTC"),
    ("{{ \"aa bb CC\" | title }}", "Aa Bb CC"), ("{{ \"aA bB CC\" | toLower }}", "aa bb cc"),
    ("{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}", "true false"),
    ("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}", "xa"),
    ("{{ graphLink \"up\" }}", "/graph?g0.expr=up&g0.tab=0"), ("{{ tableLink \"up\" }}", "/graph?g0.expr=up&g0.tab=1"),
    ("{{ \"foo.example.com:12345\" | stripPort }}", "foo.example.com"),
    ("{{ \"2001:0DB8::1\" | stripPort }}", "2001:0DB8::1"),
    ("{{ \"[2001:0DB8::1]:12345\" | stripPort }}", "2001:0DB8::1"),
    ("{{ \"[2001:0DB8::1]::12345\" | stripPort }}", "[2001:0DB8::1]::12345"),
    ("{{ \"foo.example.com\" | stripDomain }}", "foo"), ("{{ \"foo.example.com:12345\" | stripDomain }}", "foo:12345"),
    ("{{ \"192.0.2.1:12345\" | stripDomain }}", "192.0.2.1:12345"),
    ("{{ \"[2001:0DB8::1]:12345\" | stripDomain }}", "[2001:0DB8::1]:12345"),
    ("{{ printf \"%0.2f\" (parseDuration \"1h2m10ms\") }}", "3720.01"),
    ("{{ define \"x\" }}{{ .arg0 }} {{ .arg1 }}{{ end }}{{ template \"x\" (args 1 \"2\") }}", "1 2"),
    ("{{ \"<b>\" | safeHtml }} {{ \"<b>\" }}", "<b> <b>"),
])
def test_prometheus_functions(text: str, out: str) -> None:
    assert _x(text) == out


def test_missing_keys_follow_missingkey_zero() -> None:
    # map[string]string gives its zero value ""; map[string]interface{} (args) gives <no value>
    assert _x("[{{ $labels.nope }}][{{ .Labels.nope }}][{{ index $labels \"nope\" }}]") == "[][][]"
    assert _x("{{ (args 1).arg5 }}") == "<no value>"
    assert _x("{{ index $labels \"a-b\" }}", labels={"a-b": "dash"}) == "dash"


def test_variables_scopes_and_control_flow() -> None:
    assert _x("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}") == "2"
    assert _x("{{ range $i, $e := query \"q\" }}{{ $i }}:{{ $e.Labels.job }}{{ end }}", query=_query) == "0:k"
    assert _x("{{ range $labels }}{{ continue }}x{{ end }}done") == "done"
    assert _x("{{ with $labels }}{{ .job }}{{ $.Value }}{{ end }}", 7.0) == "j7"
    assert _x("{{ range $k, $v := .Labels }}{{ $k }}{{ end }}", labels={"b": "1", "a": "2"}) == "ab"
    assert _x("x\n  {{- .Labels.job -}}\n  y") == "xjy"
    assert _x("{{/* gone */}}a{{- /* trimmed */ -}}  b") == "ab"


def test_external_url_functions() -> None:
    kw: dict[str, Any] = {"external_url": EXTERNAL_URL}
    got = _x("{{ pathPrefix }} {{ externalURL }} {{ $externalURL }}", **kw)
    assert got == f"/pre/fix {EXTERNAL_URL} {EXTERNAL_URL}"
    assert "nil pointer dereference" in expand_alert("{{ pathPrefix }}", labels={}, value=0, nil_url_funcs=True)


def test_query_functions_and_missing_query() -> None:
    assert _x("{{ query \"q\" | first | value }} {{ query \"q\" | first | label \"job\" }}", query=_query) == "42 k"
    with pytest.raises(TemplateError, match="error calling first: first\\(\\) called on vector with no elements"):
        _x("{{ query \"nothing\" | first }}", query=_query)
    with pytest.raises(TemplateError, match="error calling query"):
        _x("{{ query \"q\" }}")


def test_errors_are_worded_like_prometheus() -> None:
    with pytest.raises(TemplateError) as e:
        _x("{{ gt $value 1 }}", name="__alert_A")
    assert str(e.value) == ('error executing template __alert_A: template: __alert_A:1:115: executing "__alert_A" '
                            'at <gt $value 1>: error calling gt: incompatible types for comparison')
    assert expand_alert("{{ end }}", labels={}, value=0, name="__alert_A") == (
        "<error expanding template: error parsing template __alert_A: template: __alert_A:1: unexpected {{end}}>")


@pytest.mark.parametrize(("text", "msg"), [  # as `promtool check rules` 2.42 reports them
    ("{{ }}", "missing value for command"), ("{{", "unclosed action"), ("{{ nope }}", 'function "nope" not defined'),
    ("{{ if 1 }}", "unexpected EOF"), ("{{ $nope }}", 'undefined variable "$nope"'), ("{{ 1 | 2 }}",
    "non executable command in pipeline stage 2"), ("{{ ( 1 }}", "unclosed left paren"),
    ("{{ 1 ) }}", 'unexpected ")" in command'), ("{{/* x */ 1 }}", "comment ends before closing delimiter"),
    ("{{ else }}", "unexpected {{else}}"), ("{{ break }}", "{{break}} outside {{range}}"),
    ("{{ if 1 }}{{ else }}{{ else }}{{ end }}", "expected end; found {{else}}"),
    ("{{ 3x }}", 'bad number syntax: "3x"'),
    ("{{ range $a, $b, $c := . }}{{ end }}", "too many declarations in range"),
])
def test_check_reports_parse_errors(text: str, msg: str) -> None:
    with pytest.raises(TemplateError) as e:
        check(text, name="__alert_A")
    assert str(e.value) == f"template: __alert_A:1: {msg}"


def test_check_accepts_valid_templates() -> None:
    check("{{ range $k, $v := $labels }}{{ $k }}{{ end }}{{ humanize $value }}")


def test_untrusted_templates_are_bounded() -> None:
    with pytest.raises(TemplateError, match="1 MiB"):
        _x("{{ define \"a\" }}" + "x" * 1000 + "{{ end }}{{ range $labels }}{{ range $labels }}{{ template \"a\" }}"
           "{{ end }}{{ end }}", labels={str(i): "v" for i in range(40)})
    with pytest.raises(TemplateError, match="depth"):
        _x("{{ define \"r\" }}{{ template \"r\" }}{{ end }}{{ template \"r\" }}")
    with pytest.raises(TemplateError, match="nested too deeply"):
        _x("{{ if 1 }}" * 500 + "{{ end }}" * 500)
    with pytest.raises(TemplateError, match="nested too deeply"):
        _x("{{ " + "(" * 500 + "1" + ")" * 500 + " }}")
    nested = "\"abcdefgh\""
    for _ in range(6):
        nested = f"(reReplaceAll \"\" \"xxxxxxxxxxxxxxxx\" {nested})"
    with pytest.raises(TemplateError, match="error calling reReplaceAll: result exceeds 1 MiB"):
        _x("{{ " + nested + " }}")
    with pytest.raises(TemplateError):
        _x("{{ printf \"%999999999d\" 1 }}")
    labels = {"a": "{{ .Value }}"}  # label values are data, never template source
    assert _x("{{ $labels.a }}", labels=labels) == "{{ .Value }}"


def test_sample_is_a_frozen_value() -> None:
    s = Sample({"a": "b"}, 1.0)
    with pytest.raises(AttributeError):
        s.value = 2.0  # type: ignore[misc]
    assert math.isclose(s.value, 1.0)
