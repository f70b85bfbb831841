from __future__ import annotations

import pytest

from query.apm.window import RANGES, ApmWindow, resolve_window, step_for
from query.errors import BadRequest
from query.timerange import NS


@pytest.mark.parametrize("range_", list(RANGES))
def test_each_range_has_its_step_and_length(range_: str) -> None:
    w = resolve_window(None, "1700000000", range_)
    assert w.end_ns == 1700000000 * NS
    assert w.step_s == RANGES[range_]
    assert 30 <= w.seconds / w.step_s <= 170


@pytest.mark.parametrize(("args", "parameter"), [
    ((None, None, "2h"), "range"),
    ((None, None, "1H"), "range"),
    (("1700000000", None, "1h"), "range"),
    (("1700000100", "1700000000", None), "start"),
    (("1700000000", "1700000000", None), "start"),
    (("yesterday", None, None), "start"),
    ((None, "soon", None), "end"),
])
def test_bad_windows_name_the_parameter(args: tuple[str | None, str | None, str | None], parameter: str) -> None:
    with pytest.raises(BadRequest) as err:
        resolve_window(*args)
    assert err.value.parameter == parameter


def test_explicit_window_gets_a_step_with_at_most_200_buckets() -> None:
    w = resolve_window("1700000000", "1700086400", None)  # one day
    assert w.step_s == 900 and step_for(60) == 15 and step_for(10**9) == 86400


def test_previous_window_and_bucket_starts() -> None:
    w = ApmWindow(1000 * NS + 5, 1120 * NS, 60)
    assert w.previous() == ApmWindow(880 * NS + 10, 1000 * NS + 5, 60)
    assert w.bucket_starts_s() == [960, 1020, 1080]
    assert w.params == {"start_ns": 1000 * NS + 5, "end_ns": 1120 * NS, "step_s": 60}
