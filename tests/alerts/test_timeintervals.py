"""Time-interval semantics (Alertmanager 0.25)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.amconfig import load_amconfig
from alerts.timeintervals import TimeInterval, TimeIntervalError, interval_contains


def test_times_end_exclusive() -> None:
    ti = TimeInterval.parse({"times": [{"start_time": "09:00", "end_time": "17:00"}]})
    assert ti.contains(datetime(2024, 1, 2, 9, 0, tzinfo=UTC))
    assert ti.contains(datetime(2024, 1, 2, 16, 59, tzinfo=UTC))
    assert not ti.contains(datetime(2024, 1, 2, 17, 0, tzinfo=UTC))
    assert TimeInterval.parse({"times": [{"start_time": "23:00", "end_time": "24:00"}]}).contains(
        datetime(2024, 1, 2, 23, 59, tzinfo=UTC))


def test_weekdays_months_years_inclusive() -> None:
    ti = TimeInterval.parse({"weekdays": ["monday:friday"], "months": ["january:march"], "years": ["2024"]})
    assert ti.contains(datetime(2024, 3, 29, tzinfo=UTC))  # Friday
    assert not ti.contains(datetime(2024, 3, 30, tzinfo=UTC))  # Saturday
    assert not ti.contains(datetime(2024, 4, 1, tzinfo=UTC))
    assert not ti.contains(datetime(2025, 1, 6, tzinfo=UTC))
    assert TimeInterval.parse({"weekdays": ["sunday"]}).contains(datetime(2024, 3, 31, tzinfo=UTC))


def test_negative_days_of_month() -> None:
    last = TimeInterval.parse({"days_of_month": ["-1"]})
    assert last.contains(datetime(2024, 2, 29, tzinfo=UTC)) and not last.contains(datetime(2024, 2, 28, tzinfo=UTC))
    rng = TimeInterval.parse({"days_of_month": ["-3:-1"]})
    assert rng.contains(datetime(2023, 2, 26, tzinfo=UTC)) and not rng.contains(datetime(2023, 2, 25, tzinfo=UTC))


def test_location() -> None:
    ti = TimeInterval.parse({"times": [{"start_time": "09:00", "end_time": "10:00"}], "location": "Europe/Berlin"})
    assert ti.contains(datetime(2024, 7, 1, 7, 30, tzinfo=UTC))  # 09:30 CEST
    assert not ti.contains(datetime(2024, 7, 1, 9, 30, tzinfo=UTC))
    with pytest.raises(TimeIntervalError):
        TimeInterval.parse({"location": "Mars/Olympus"})


def test_bad_fields() -> None:
    for spec in ({"times": [{"start_time": "10:00", "end_time": "09:00"}]}, {"weekdays": ["funday"]},
                 {"days_of_month": ["0"]}, {"months": ["13"]},
                 {"times": [{"start_time": "25:00", "end_time": "26:00"}]}):
        with pytest.raises((TimeIntervalError, ValueError)):
            TimeInterval.parse(spec)  # type: ignore[arg-type]


def test_named_intervals_from_config() -> None:
    cfg = load_amconfig(Path(__file__).parent / "amconfigs" / "full.yml")
    weekends = cfg.time_intervals["weekends"]
    assert interval_contains(weekends, datetime(2024, 6, 8, 12, tzinfo=UTC))  # Saturday
    assert interval_contains(weekends, datetime(2024, 1, 2, 12, tzinfo=UTC))  # Jan 2nd
    assert not interval_contains(weekends, datetime(2024, 6, 4, 12, tzinfo=UTC))
