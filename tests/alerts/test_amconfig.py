"""Alertmanager-format config loading, checked against ``amtool check-config`` (0.25)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from alerts.amconfig import load_amconfig
from contracts.yamlfile import YamlError
from tests.amtool import amtool

DIR = Path(__file__).parent / "amconfigs"
VALID = ["full.yml", "routing.yml"]
INVALID = sorted(p.name for p in DIR.glob("bad_*.yml"))
GIST = {"bad_dup_receiver.yml": "not unique", "bad_undef_receiver.yml": "undefined receiver",
        "bad_root_matchers.yml": "root route must not have any matchers", "bad_unknown_key.yml": "recevier",
        "bad_undef_interval.yml": "undefined time interval", "bad_duration.yml": "not a valid duration",
        "bad_group_by.yml": "wildcard group_by"}


def _check(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([amtool(), "check-config", str(DIR / name)], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("name", VALID)
def test_valid_configs_load_and_pass_amtool(name: str) -> None:
    assert _check(name).returncode == 0
    load_amconfig(DIR / name)


@pytest.mark.parametrize("name", INVALID)
def test_invalid_configs_rejected_by_both(name: str) -> None:
    res = _check(name)
    assert res.returncode != 0
    with pytest.raises(YamlError) as exc:
        load_amconfig(DIR / name)
    assert all(p.startswith(str(DIR / name) + ":") for p in exc.value.problems)
    if name in GIST:
        assert GIST[name] in str(exc.value)
        assert GIST[name] in res.stdout + res.stderr


def test_full_config_contents() -> None:
    cfg = load_amconfig(DIR / "full.yml")
    assert cfg.templates == ["/etc/alertmanager/*.tmpl"]
    assert cfg.receivers["pager"].unsupported == ["pagerduty_configs"]
    child = cfg.route.routes[0]
    assert (child.group_by, child.group_wait_ms, child.group_interval_ms, child.repeat_interval_ms) == (
        ("alertname", "cluster"), 10_000, 300_000, 3_600_000)
    assert child.mute_time_intervals == ("weekends",) and child.active_time_intervals == ("office",)
    assert len(cfg.inhibit_rules) == 2 and cfg.inhibit_rules[0].equal == ("alertname",)
    assert "hunter2secret" not in repr(cfg)


def test_vigil_extensions_load_and_amtool_names_the_fields() -> None:
    cfg = load_amconfig(DIR / "vigil.yml")
    assert cfg.route.escalation == "oncall"
    assert cfg.escalation_policies["oncall"] == [(0, ["hook"]), (1_800_000, ["boss"])]
    out = _check("vigil.yml")
    assert out.returncode != 0
    text = out.stdout + out.stderr
    for fld in ("vigil_escalation", "vigil_hmac_secret", "field vigil not found"):
        assert fld in text


def test_secrets_not_echoed(tmp_path: Path) -> None:
    f = tmp_path / "c.yml"
    f.write_text("route: {receiver: a}\nreceivers: [{name: a, webhook_configs: [{url: 'ftp-secret-xyz'}]}]\n")
    with pytest.raises(YamlError) as exc:
        load_amconfig(f)
    assert "secret-xyz" not in str(exc.value)


def test_undefined_escalation_policy(tmp_path: Path) -> None:
    f = tmp_path / "c.yml"
    f.write_text("route: {receiver: a, vigil_escalation: nope}\nreceivers: [{name: a}]\n")
    with pytest.raises(YamlError, match="undefined escalation policy"):
        load_amconfig(f)
