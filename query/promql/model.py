"""PromQL values, label sets, matchers and the sample-source contract the engine evaluates over.

Conventions (Prometheus 2.42, the reference semantics of this package):

* Times are **int64 milliseconds** since the epoch, values float64.
* A label set (:data:`Labels`) is a tuple of ``(name, value)`` pairs sorted by name, without empty
  values (an empty label value means "no such label"); the metric name is the label ``__name__``.
* A staleness marker is the NaN with bit pattern :data:`STALE_BITS` (Prometheus' ``StaleNaN``). Sources
  return it as a sample; the selectors drop it (a stale marker ends a series' lookback).
* The engine evaluates every node at **all steps of a query at once** (one step for an instant query):
  :class:`Vector` holds, per output series, a value array and a presence mask over the steps;
  :class:`Scalar` one value per step; :class:`Matrix` (a range-vector argument of a function) holds raw
  samples and each step's window ``[ref - range_ms, ref]`` (closed on both ends, as in 2.x).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
import re2

Labels = tuple[tuple[str, str], ...]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

NAME = "__name__"
STALE_BITS = 0x7FF0000000000002
STALE_NAN: float = float(np.array([STALE_BITS], dtype=np.uint64).view(np.float64)[0])


class PromQLError(Exception):
    """An error answered to the user, with the Prometheus HTTP API ``errorType`` it maps to.

    ``error_type`` is one of ``bad_data`` (parse or type errors, bad parameters), ``execution`` (a
    runtime error such as a many-to-many match, duplicate output series), ``timeout``, ``canceled``.
    """

    def __init__(self, message: str, error_type: str = "execution") -> None:
        """An error with ``message`` and the API error type ``error_type``."""
        super().__init__(message)
        self.message = message
        self.error_type = error_type


def labels_of(pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> Labels:
    """The canonical label set of ``pairs``: sorted by name, empty values dropped."""
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return tuple(sorted((k, v) for k, v in items if v != ""))


def get_label(labels: Labels, name: str) -> str:
    """The value of label ``name`` in ``labels``, ``""`` when absent."""
    for k, v in labels:
        if k == name:
            return v
    return ""


def drop_name(labels: Labels) -> Labels:
    """``labels`` without ``__name__`` (what most functions and arithmetic operators return)."""
    return tuple(p for p in labels if p[0] != NAME) if labels and any(k == NAME for k, _ in labels) else labels


def set_label(labels: Labels, name: str, value: str) -> Labels:
    """``labels`` with ``name`` set to ``value`` (removed when ``value`` is empty)."""
    return labels_of([*(p for p in labels if p[0] != name), (name, value)])


def format_labels(labels: Labels) -> str:
    """Prometheus' text form: ``name{a="1", b="2"}``."""
    name = get_label(labels, NAME)
    rest = ", ".join(f'{k}="{v}"' for k, v in labels if k != NAME)
    return f"{name}{{{rest}}}" if rest or not name else name


def is_stale(values: FloatArray) -> BoolArray:
    """Mask of the staleness markers in ``values``."""
    return np.asarray(values.view(np.uint64) == STALE_BITS)


@dataclass(frozen=True, slots=True)
class Matcher:
    """A label matcher; regex matchers are fully anchored, as in Prometheus (RE2 syntax)."""

    name: str
    op: str  # "=", "!=", "=~", "!~"
    value: str
    _regex: re2._Regexp | None = field(default=None, compare=False, repr=False)

    @staticmethod
    def make(name: str, op: str, value: str) -> Matcher:
        """A matcher; raises :class:`PromQLError` (``bad_data``) for an unknown op or a bad regex."""
        if op not in ("=", "!=", "=~", "!~"):
            raise PromQLError(f"unknown matcher operator {op!r}", "bad_data")
        rx = None
        if op in ("=~", "!~"):
            try:
                rx = re2.compile(f"^(?:{value})$")
            except re2.error as exc:
                raise PromQLError(f"invalid regular expression {value!r}: {exc}", "bad_data") from exc
        return Matcher(name, op, value, rx)

    def matches(self, value: str) -> bool:
        """Whether a label value (``""`` for an absent label) satisfies this matcher."""
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        assert self._regex is not None
        hit = self._regex.match(value) is not None
        return hit if self.op == "=~" else not hit

    def matches_labels(self, labels: Labels) -> bool:
        """Whether the label set satisfies this matcher."""
        return self.matches(get_label(labels, self.name))


@dataclass(frozen=True, slots=True)
class Series:
    """Raw samples of one series, as a source returns them: ``t`` ascending, ``v`` may hold stale markers."""

    labels: Labels
    t: IntArray
    v: FloatArray


class SampleSource(Protocol):
    """Where the engine reads samples: the columnar store, or the in-memory store of ``vigil rules test``."""

    def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[Series]:
        """Every series matching all ``matchers`` that has a sample in ``[start_ms, end_ms]``.

        Each with exactly its samples in that closed interval (stale markers included), in time order.
        """
        ...

    def label_names(self, matcher_sets: Sequence[Sequence[Matcher]], start_ms: int, end_ms: int) -> list[str]:
        """Sorted label names of the series selected by any of ``matcher_sets`` (all series when empty)."""
        ...

    def label_values(self, name: str, matcher_sets: Sequence[Sequence[Matcher]], start_ms: int,
                     end_ms: int) -> list[str]:
        """Sorted non-empty values of label ``name`` over the series selected as in :meth:`label_names`."""
        ...


def label_names_of(label_sets: Iterable[Labels]) -> list[str]:
    """Sorted label names over ``label_sets`` (what a source's ``label_names`` answers)."""
    return sorted({k for ls in label_sets for k, _ in ls})


def label_values_of(label_sets: Iterable[Labels], name: str) -> list[str]:
    """Sorted values of label ``name`` over ``label_sets`` (what a source's ``label_values`` answers)."""
    return sorted({v for ls in label_sets for k, v in ls if k == name})


# ---- values over the steps of one evaluation ----------------------------------------------------------


@dataclass(slots=True)
class VSeries:
    """One series of an instant vector over all steps: ``values[i]`` is meaningful where ``present[i]``.

    ``sample_t`` is set only by a plain vector selector: the timestamp of the sample each step took
    (what ``timestamp()`` returns for a selector argument); ``None`` elsewhere.
    """

    labels: Labels
    values: FloatArray
    present: BoolArray
    sample_t: IntArray | None = None


@dataclass(slots=True)
class Vector:
    """An instant vector at every step."""

    series: list[VSeries]


@dataclass(slots=True)
class Scalar:
    """A scalar at every step."""

    values: FloatArray


@dataclass(slots=True)
class String:
    """A string literal (the same at every step)."""

    value: str


@dataclass(slots=True)
class Matrix:
    """A range vector at every step (only ever an argument of a function, or an instant query's result).

    ``series`` hold raw samples with the stale markers removed, covering every window; step ``i``'s
    window is the samples with ``ref[i] - range_ms <= t <= ref[i]`` (``ref`` is the step's time after
    ``offset`` and ``@``). :meth:`windows` gives each series' index bounds per step.
    """

    series: list[Series]
    range_ms: int
    ref: IntArray

    def windows(self, s: Series) -> tuple[IntArray, IntArray]:
        """``(lo, hi)`` per step: the window of step ``i`` is ``s.t[lo[i]:hi[i]]``."""
        lo = np.searchsorted(s.t, self.ref - self.range_ms, side="left").astype(np.int64)
        hi = np.searchsorted(s.t, self.ref, side="right").astype(np.int64)
        return lo, hi


Value = Vector | Scalar | String | Matrix


@dataclass(frozen=True, slots=True)
class Steps:
    """The evaluation timestamps of a query (one for an instant query) and its settings."""

    ts: IntArray
    start_ms: int  # the query's start and end, what `@ start()` / `@ end()` refer to
    end_ms: int
    lookback_ms: int = 300_000

    @property
    def n(self) -> int:
        """Number of steps."""
        return int(self.ts.shape[0])

    @staticmethod
    def range(start_ms: int, end_ms: int, step_ms: int, lookback_ms: int = 300_000) -> Steps:
        """The steps ``start, start+step, … <= end`` of a range query."""
        return Steps(np.arange(start_ms, end_ms + 1, step_ms, dtype=np.int64), start_ms, end_ms, lookback_ms)

    @staticmethod
    def instant(t_ms: int, lookback_ms: int = 300_000) -> Steps:
        """The single step of an instant query at ``t_ms``."""
        return Steps(np.array([t_ms], dtype=np.int64), t_ms, t_ms, lookback_ms)
