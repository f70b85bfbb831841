"""query.timerange: RFC 3339 / unix-second instants, ``range`` durations and their validation."""

from __future__ import annotations

import pytest

from query.errors import BadRequest
from query.timerange import NS, TimeRange, parse_duration, parse_instant, resolve

NOW = 1_700_000_000 * NS  # 2023-11-14T22:13:20Z
T2018 = 1544712660 * NS  # 2018-12-13T14:51:00Z (the OTLP examples)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-12-13T14:51:00Z", T2018),
        ("2018-12-13T14:51:00z", T2018),
        ("2018-12-13T14:51:00+00:00", T2018),
        ("2018-12-13T16:51:00+02:00", T2018),
        ("2018-12-13T09:51:00-05:00", T2018),
        ("2018-12-13T14:51:00.3Z", T2018 + 300_000_000),
        ("2018-12-13T14:51:00.123456Z", T2018 + 123_456_000),
        ("  2018-12-13T14:51:00Z ", T2018),
    ],
)
def test_rfc3339(text: str, expected: int) -> None:
    assert parse_instant(text, "start") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1544712660", T2018),
        ("1544712660.5", T2018 + 500_000_000),
        ("0", 0),
        ("1700000000", NOW),
    ],
)
def test_unix_seconds(text: str, expected: int) -> None:
    assert parse_instant(text, "end") == expected


def test_pre_epoch_fractional_rfc3339() -> None:
    # half a second before the epoch is -0.5 s, not +0.5 s
    assert parse_instant("1969-12-31T23:59:59.5Z", "start") == -500_000_000


@pytest.mark.parametrize(
    "text", ["yesterday", "2018-13-01T00:00:00Z", "2018-12-13 14:51", "12:00Z", "nan", "", "1e", "0x10"]
)
def test_bad_instant_is_bad_request(text: str) -> None:
    with pytest.raises(BadRequest, match="start"):
        parse_instant(text, "start")


def test_naive_datetime_needs_offset() -> None:
    with pytest.raises(BadRequest, match="timezone"):
        parse_instant("2018-12-13T14:51:00", "end")


@pytest.mark.parametrize("text", ["inf", "-inf", "1e400"])
def test_infinite_unix_seconds_is_bad_request(text: str) -> None:
    """Non-finite numbers are malformed input (→ 400), not an internal error."""
    with pytest.raises(BadRequest):
        parse_instant(text, "end")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("1h", 3600), ("24h", 86400), ("7d", 604800), ("2w", 1209600), (" 5m ", 300),
     ("1h30m", 5400), ("1y", 365 * 86400), ("1500ms", 1.5)],
)
def test_parse_duration_units(text: str, seconds: float) -> None:
    """Prometheus durations (contracts.durations), in milliseconds."""
    assert parse_duration(text, "range") == seconds * 1000


@pytest.mark.parametrize("text", ["0h", "0", "h", "-1h", "1.5h", "1 h", "1H", "", "15", "1m1h"])
def test_bad_duration_is_bad_request(text: str) -> None:
    with pytest.raises(BadRequest, match=r"^step: .*duration") as info:
        parse_duration(text, "step")
    assert info.value.parameter == "step"


def test_default_range_is_one_hour_back_from_now() -> None:
    assert resolve(None, None, None, now_ns=NOW) == TimeRange(NOW - 3600 * NS, NOW)


def test_range_back_from_now() -> None:
    assert resolve(None, None, "15m", now_ns=NOW) == TimeRange(NOW - 900 * NS, NOW)
    assert resolve(None, None, "7d", now_ns=NOW) == TimeRange(NOW - 7 * 86400 * NS, NOW)


def test_range_back_from_explicit_end() -> None:
    assert resolve(None, "1544712660", "1h", now_ns=NOW) == TimeRange(T2018 - 3600 * NS, T2018)


def test_start_and_end_override_range() -> None:
    tr = resolve("2018-12-13T14:51:00Z", "2018-12-13T15:51:00+01:00", "5m", now_ns=NOW)
    assert tr == TimeRange(T2018, T2018)  # same instant: start == end is allowed


def test_start_only_ends_now() -> None:
    assert resolve("1544712660", None, None, now_ns=NOW) == TimeRange(T2018, NOW)


def test_start_after_end_is_bad_request() -> None:
    with pytest.raises(BadRequest, match="start"):
        resolve("2018-12-13T14:51:01Z", "2018-12-13T14:51:00Z", None, now_ns=NOW)
    with pytest.raises(BadRequest):
        resolve(str(NOW // NS + 1), None, None, now_ns=NOW)  # start in the future, end = now


def test_bad_range_is_bad_request_naming_range() -> None:
    with pytest.raises(BadRequest, match=r"^range: 'forever' is not a duration; use e\.g\.") as info:
        resolve(None, None, "forever", now_ns=NOW)
    assert info.value.parameter == "range"


def test_bad_end_names_the_parameter() -> None:
    with pytest.raises(BadRequest, match="end"):
        resolve(None, "not-a-time", None, now_ns=NOW)


def test_params() -> None:
    assert TimeRange(1, 2).params == {"start_ns": 1, "end_ns": 2}
