"""query.promql.memstore: the in-memory SampleSource of ``vigil rules test``."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from query.promql.memstore import MemoryStore
from query.promql.model import NAME, STALE_BITS, STALE_NAN, Labels, Matcher, SampleSource, labels_of
from query.promql.notation import load_input_series


def L(**kv: str) -> Labels:  # noqa: N802
    return labels_of(kv)


def eq(name: str, value: str) -> Matcher:
    return Matcher.make(name, "=", value)


@pytest.fixture
def store() -> MemoryStore:
    st = MemoryStore()
    st.add_series(L(__name__="up", job="api", instance="0"), [(0, 1.0), (60_000, 1.0), (120_000, 0.0)])
    st.add_series(L(__name__="up", job="db"), [(30_000, 1.0)])
    st.add_series({"__name__": "req", "job": "api", "code": "500"}, [(0, 5.0)])
    return st


def test_is_a_sample_source(store: MemoryStore) -> None:
    src: SampleSource = store
    assert len(src.select([eq(NAME, "up")], 0, 200_000)) == 2


def test_closed_interval(store: MemoryStore) -> None:
    got = store.select([eq(NAME, "up"), eq("job", "api")], 0, 60_000)
    assert len(got) == 1
    assert got[0].labels == L(__name__="up", job="api", instance="0")
    assert got[0].t.tolist() == [0, 60_000] and got[0].v.tolist() == [1.0, 1.0]
    assert got[0].t.dtype == np.int64 and got[0].v.dtype == np.float64
    assert store.select([eq(NAME, "up"), eq("job", "api")], 60_000, 60_000)[0].t.tolist() == [60_000]


def test_series_without_samples_in_range_are_omitted(store: MemoryStore) -> None:
    got = store.select([eq(NAME, "up")], 100_000, 200_000)
    assert [s.labels for s in got] == [L(__name__="up", job="api", instance="0")]
    assert store.select([eq(NAME, "up")], 200_000, 300_000) == []


def test_results_sorted_by_labels(store: MemoryStore) -> None:
    got = store.select([Matcher.make(NAME, "=~", ".+")], 0, 10**9)
    assert [s.labels for s in got] == sorted(s.labels for s in got)
    assert len(got) == 3


def test_empty_string_semantics(store: MemoryStore) -> None:
    names = {s.labels for s in store.select([eq(NAME, "up"), eq("instance", "")], 0, 10**9)}
    assert names == {L(__name__="up", job="db")}
    names = {s.labels for s in store.select([eq(NAME, "up"), Matcher.make("instance", "!=", "")], 0, 10**9)}
    assert names == {L(__name__="up", job="api", instance="0")}
    got = store.select([Matcher.make("code", "=~", "5..|")], 0, 10**9)
    assert len(got) == 3  # the regex matches "" so series without `code` match too
    got = store.select([Matcher.make("code", "!~", "5..")], 0, 10**9)
    assert {s.labels for s in got} == {L(__name__="up", job="api", instance="0"), L(__name__="up", job="db")}


def test_no_matchers_selects_everything(store: MemoryStore) -> None:
    assert len(store.select([], 0, 10**9)) == 3


def test_stale_markers_are_returned(store: MemoryStore) -> None:
    store.add(L(__name__="up", job="db"), 60_000, STALE_NAN)
    got = store.select([eq("job", "db")], 0, 10**9)[0]
    assert got.t.tolist() == [30_000, 60_000]
    assert int(got.v.view(np.uint64)[1]) == STALE_BITS


def test_append_after_read(store: MemoryStore) -> None:
    sel = [eq(NAME, "rule:out")]
    assert store.select(sel, 0, 10**9) == []
    for i in range(5):
        store.add(L(__name__="rule:out"), i * 60_000, float(i))
        got = store.select(sel, 0, 10**9)
        assert got[0].t.tolist() == [j * 60_000 for j in range(i + 1)]
        assert got[0].v.tolist() == [float(j) for j in range(i + 1)]


def test_out_of_order_and_duplicate_timestamps() -> None:
    st = MemoryStore()
    st.add_series(L(__name__="x"), [(30, 3.0), (10, 1.0)])
    st.select([], 0, 100)
    st.add_series(L(__name__="x"), [(20, 2.0), (10, 9.0)])
    got = st.select([], 0, 100)[0]
    assert got.t.tolist() == [10, 20, 30] and got.v.tolist() == [9.0, 2.0, 3.0]


def test_returned_arrays_are_copies() -> None:
    st = MemoryStore()
    st.add(L(__name__="x"), 0, 1.0)
    st.select([], 0, 0)[0].v[0] = 42.0
    assert st.select([], 0, 0)[0].v.tolist() == [1.0]


def test_labels_canonicalised() -> None:
    st = MemoryStore()
    st.add({"b": "2", "__name__": "m", "a": "1", "empty": ""}, 0, 1.0)
    st.add((("a", "1"), ("__name__", "m"), ("b", "2")), 1, 2.0)
    assert st.series_labels() == [L(__name__="m", a="1", b="2")]
    assert len(st) == 1


def test_label_names_and_values(store: MemoryStore) -> None:
    assert store.label_names([], 0, 10**9) == [NAME, "code", "instance", "job"]
    assert store.label_names([[eq("job", "db")]], 0, 10**9) == [NAME, "job"]
    assert store.label_names([[eq("job", "db")], [eq(NAME, "req")]], 0, 10**9) == [NAME, "code", "job"]
    assert store.label_values("job", [], 0, 10**9) == ["api", "db"]
    assert store.label_values(NAME, [[eq("job", "api")]], 0, 10**9) == ["req", "up"]
    assert store.label_values("instance", [], 100_000, 10**9) == ["0"]  # only series with samples in range
    assert store.label_values("nope", [], 0, 10**9) == []
    assert store.label_names([], 10**9, 10**10) == []


def test_many_samples_are_cheap() -> None:
    st = MemoryStore()
    n = 200_000
    for i in range(n):
        st.add(L(__name__="big"), i, float(i))
    got = st.select([], n - 10, n)[0]
    assert got.t.tolist() == list(range(n - 10, n))


def test_loads_notation() -> None:
    st = MemoryStore()
    for labels, samples in load_input_series([('m{a="1"}', "1+1x2 _ stale")], 60_000).items():
        st.add_series(labels, samples)
    got = st.select([eq("a", "1")], 0, 10**9)[0]
    assert got.t.tolist() == [0, 60_000, 120_000, 240_000]
    assert struct.unpack("<Q", struct.pack("<d", float(got.v[3])))[0] == STALE_BITS
