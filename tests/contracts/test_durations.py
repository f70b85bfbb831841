"""Prometheus duration syntax."""

from __future__ import annotations

import pytest

from contracts.durations import DurationError, format_duration_ms, parse_duration_ms


@pytest.mark.parametrize(("text", "ms"), [
    ("0", 0), ("500ms", 500), ("90s", 90_000), ("15m", 900_000), ("1h30m", 5_400_000), ("7d", 604_800_000),
    ("1w", 604_800_000), ("1y", 31_536_000_000), ("1h0m5s10ms", 3_605_010), (" 2h ", 7_200_000),
])
def test_parses(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "1", "1.5h", "-1m", "30m1h", "1hh", "bogus", "1 h", "5M"])
def test_refuses(text: str) -> None:
    with pytest.raises(DurationError, match="duration"):
        parse_duration_ms(text)


def test_overflow_is_refused() -> None:
    with pytest.raises(DurationError, match="too long"):
        parse_duration_ms("999999999y")


def test_format_round_trips() -> None:
    for ms in (0, 1, 999, 1000, 61_000, 5_400_000, 86_400_000 * 9 + 1):
        assert parse_duration_ms(format_duration_ms(ms)) == ms
