"""A :class:`~query.promql.model.SampleSource` for one rule-evaluation cycle: one read per metric name.

A cycle evaluates many expressions at (nearly) one instant, and most of them select the same few
metric names over short windows. Reading the store once per selector costs a full scan of the metric
each time (a day's granules hold every series of a metric), so 1 000 rules would cost 1 000 scans.
:class:`Snapshot` reads each metric name once over the cycle's horizon and answers every selector of
that name from memory.

Contracts:

* ``Snapshot(inner, start_ms, end_ms)`` covers the closed interval ``[start_ms, end_ms]``; make one
  per cycle, with ``start_ms`` = evaluation time − (the longest range + lookback the rules use).
* :meth:`Snapshot.select` with an equality ``__name__`` matcher and an interval inside the horizon is
  served from the snapshot: the inner source's series of that name over the horizon (read once, on
  first use), filtered by every matcher, their samples cut to ``[start_ms, end_ms]`` (series without
  samples there are left out) — the same answer as the inner source would give at the time of the
  first read. Anything else (regex names, longer ranges) is passed to the inner source.
* The data is a snapshot: samples stored after a name's first read are not seen by later selects in
  the same cycle. Thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from query.promql.model import NAME, Matcher, SampleSource, Series


class Snapshot:
    """One read per metric name over ``[start_ms, end_ms]``; see the module docstring."""

    def __init__(self, inner: SampleSource, start_ms: int, end_ms: int) -> None:
        """Serve selects inside ``[start_ms, end_ms]`` from reads of ``inner``."""
        self.inner = inner
        self.start_ms, self.end_ms = start_ms, end_ms
        self._lock = threading.Lock()
        self._by_name: dict[str, list[Series]] = {}
        self.reads = 0  # reads of the inner source made for the snapshot

    def _series(self, name: str) -> list[Series]:
        with self._lock:
            hit = self._by_name.get(name)
            if hit is None:
                hit = self._by_name[name] = self.inner.select([Matcher.make(NAME, "=", name)], self.start_ms,
                                                              self.end_ms)
                self.reads += 1
            return hit

    def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[Series]:
        """The series matching all ``matchers`` with their samples in ``[start_ms, end_ms]``."""
        name = next((m.value for m in matchers if m.name == NAME and m.op == "="), None)
        if name is None or start_ms < self.start_ms or end_ms > self.end_ms:
            return self.inner.select(matchers, start_ms, end_ms)
        out: list[Series] = []
        for s in self._series(name):
            if not all(m.matches_labels(s.labels) for m in matchers):
                continue
            lo = int(np.searchsorted(s.t, start_ms, side="left"))
            hi = int(np.searchsorted(s.t, end_ms, side="right"))
            if hi > lo:
                out.append(s if lo == 0 and hi == s.t.shape[0] else Series(s.labels, s.t[lo:hi], s.v[lo:hi]))
        return out

    def label_names(self, matcher_sets: Sequence[Sequence[Matcher]], start_ms: int, end_ms: int) -> list[str]:
        """The inner source's label names."""
        return self.inner.label_names(matcher_sets, start_ms, end_ms)

    def label_values(self, name: str, matcher_sets: Sequence[Sequence[Matcher]], start_ms: int,
                     end_ms: int) -> list[str]:
        """The inner source's label values."""
        return self.inner.label_values(name, matcher_sets, start_ms, end_ms)
