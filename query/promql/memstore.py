"""An in-memory :class:`~query.promql.model.SampleSource`: the store behind ``vigil rules test``.

Contracts:

* :meth:`MemoryStore.add` / :meth:`MemoryStore.add_series` append samples to a series keyed by its
  canonical label set (:func:`~query.promql.model.labels_of`: sorted, empty values dropped). Appends are
  buffered in lists and merged into sorted ``int64``/``float64`` arrays lazily, on the next read of that
  series, so appending after reads works (recording-rule outputs are appended during evaluation) and
  costs O(1) per sample. Samples may arrive out of order; a later sample at an existing timestamp
  replaces the earlier one. Stale markers (:data:`~query.promql.model.STALE_NAN`) are stored as samples.
* :meth:`MemoryStore.select` returns every series satisfying all matchers that has at least one sample
  in the **closed** interval ``[start_ms, end_ms]``, with exactly those samples (stale markers
  included), ordered by labels. A matcher on a label the series lacks sees ``""`` (``{a=""}`` matches
  series without ``a``, ``{a!=""}`` only those with it); an empty matcher list selects every series.
  Requiring one matcher that does not match ``""`` is the parser's job, not enforced here.
* :meth:`MemoryStore.label_names` / :meth:`MemoryStore.label_values` consider the series selected (as
  in ``select``, with a sample in the interval) by *any* of the matcher sets, or all series when none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from query.promql.model import FloatArray, IntArray, Labels, Matcher, Series, label_names_of, label_values_of, labels_of


@dataclass(slots=True)
class _Stored:
    """One series: merged sorted arrays plus the not-yet-merged appends."""

    t: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    v: FloatArray = field(default_factory=lambda: np.empty(0, dtype=np.float64))
    pending_t: list[int] = field(default_factory=list)
    pending_v: list[float] = field(default_factory=list)

    def arrays(self) -> tuple[IntArray, FloatArray]:
        """The series' samples, sorted by time, one per timestamp (the last appended wins)."""
        if self.pending_t:
            t = np.concatenate([self.t, np.asarray(self.pending_t, dtype=np.int64)])
            v = np.concatenate([self.v, np.asarray(self.pending_v, dtype=np.float64)])
            self.pending_t.clear()
            self.pending_v.clear()
            if t.shape[0] > 1 and not bool(np.all(t[1:] > t[:-1])):
                order = np.argsort(t, kind="stable")
                t, v = t[order], v[order]
                keep = np.ones(t.shape[0], dtype=np.bool_)
                keep[:-1] = t[1:] != t[:-1]  # of equal timestamps keep the last (stable sort: latest)
                t, v = t[keep], v[keep]
            self.t, self.v = t, v
        return self.t, self.v


class MemoryStore:
    """Series held in memory; see the module docstring for the contracts."""

    def __init__(self) -> None:  # noqa: D107
        self._series: dict[Labels, _Stored] = {}

    def add(self, labels: Labels | Mapping[str, str], t_ms: int, value: float) -> None:
        """Append one sample to the series ``labels`` (created on first use)."""
        key = labels_of(labels)
        st = self._series.get(key)
        if st is None:
            st = self._series[key] = _Stored()
        st.pending_t.append(int(t_ms))
        st.pending_v.append(float(value))

    def add_series(self, labels: Labels | Mapping[str, str], samples: Iterable[tuple[int, float]]) -> None:
        """Append ``(t_ms, value)`` samples to the series ``labels`` (created even when ``samples`` is empty)."""
        key = labels_of(labels)
        st = self._series.get(key)
        if st is None:
            st = self._series[key] = _Stored()
        for t, v in samples:
            st.pending_t.append(int(t))
            st.pending_v.append(float(v))

    def __len__(self) -> int:
        """Number of series (with or without samples)."""
        return len(self._series)

    def series_labels(self) -> list[Labels]:
        """Every stored label set, sorted."""
        return sorted(self._series)

    def _window(self, labels: Labels, start_ms: int, end_ms: int) -> tuple[IntArray, FloatArray] | None:
        t, v = self._series[labels].arrays()
        lo = int(np.searchsorted(t, start_ms, side="left"))
        hi = int(np.searchsorted(t, end_ms, side="right"))
        return (t[lo:hi], v[lo:hi]) if hi > lo else None

    def _matching(self, matchers: Sequence[Matcher]) -> list[Labels]:
        return sorted(ls for ls in self._series if all(m.matches_labels(ls) for m in matchers))

    def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[Series]:
        """Series matching all ``matchers`` with their samples in ``[start_ms, end_ms]`` (non-empty only)."""
        out: list[Series] = []
        for ls in self._matching(matchers):
            win = self._window(ls, start_ms, end_ms)
            if win is not None:
                out.append(Series(ls, win[0].copy(), win[1].copy()))
        return out

    def _selected(self, matcher_sets: Sequence[Sequence[Matcher]], start_ms: int, end_ms: int) -> list[Labels]:
        sets: Sequence[Sequence[Matcher]] = matcher_sets if matcher_sets else [[]]
        chosen: set[Labels] = set()
        for ms in sets:
            chosen.update(ls for ls in self._matching(ms) if self._window(ls, start_ms, end_ms) is not None)
        return sorted(chosen)

    def label_names(self, matcher_sets: Sequence[Sequence[Matcher]], start_ms: int, end_ms: int) -> list[str]:
        """Sorted label names of the series selected by any of ``matcher_sets`` (all series when empty)."""
        return label_names_of(self._selected(matcher_sets, start_ms, end_ms))

    def label_values(self, name: str, matcher_sets: Sequence[Sequence[Matcher]], start_ms: int,
                     end_ms: int) -> list[str]:
        """Sorted non-empty values of label ``name`` over the series selected as in :meth:`label_names`."""
        return label_values_of(self._selected(matcher_sets, start_ms, end_ms), name)
