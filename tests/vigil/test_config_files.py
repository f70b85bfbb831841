"""vigil.config_files: a broken alerting configuration is a configuration problem naming file and line."""

from __future__ import annotations

from pathlib import Path

from vigil.config import Config
from vigil.config_files import file_problems


def test_a_broken_alerting_config_is_reported_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "am.yml"
    bad.write_text("route: {receiver: nope}\nreceivers: []\n")
    assert file_problems(Config(alerting_config=str(bad))) == [
        f'alerting config: {bad}:1: route.receiver: undefined receiver "nope" used in route']
    good = tmp_path / "ok.yml"
    good.write_text("route: {receiver: a}\nreceivers: [{name: a}]\n")
    assert file_problems(Config(alerting_config=str(good))) == []
