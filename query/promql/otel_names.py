"""OTel → Prometheus metric and label names (the spec's "Prometheus and OpenMetrics compatibility").

As the Collector's ``pkg/translator/prometheus`` (normalize_name.go, normalize_label.go) did it in the
Prometheus 2.42 era.

Contracts (pure functions, no I/O):

* :func:`metric_name` — the name is split into tokens at every character that is not an ASCII letter or
  digit (so runs of invalid characters and ``_`` collapse to one ``_``); the unit's main part (before
  ``/``) is mapped by :data:`UNITS` (unknown units are kept, cleaned the same way) and appended unless
  empty, containing a ``{…}`` annotation, or already a token of the name; a ``/per`` part is mapped by
  :data:`PER_UNITS` and appended as ``per_<unit>``; a monotonic sum gets ``_total`` (moved to the end if
  the name already has it); unit ``1`` on a gauge gives ``_ratio``; a leading digit gets a ``_`` prefix.
  The Collector keeps non-ASCII letters; we replace them too, as Prometheus 2.x names are ASCII.
* :func:`family_names` — the Prometheus series names of one OTel metric: a histogram is
  ``<name>_bucket`` / ``_sum`` / ``_count``, a summary ``<name>`` (with ``quantile``) / ``_sum`` /
  ``_count``, anything else ``<name>``.
* :func:`label_name` — invalid characters → ``_``; a leading digit gets ``key_``; a single leading ``_``
  gets ``key`` (``_x`` → ``key_x``; ``__x`` is kept, as the Collector does without its drop gate).
* :func:`attribute_labels` — attributes to labels; keys that sanitise to the same label have their values
  joined with ``;`` in the lexicographic order of the original keys (the spec's collision rule).
* :func:`job_instance` — ``job`` = ``service.namespace/service.name`` (or ``service.name``),
  ``instance`` = ``service.instance.id``; each ``""`` when its attributes are absent.
* :func:`format_float` — the text of ``le``/``quantile`` values (Go's ``FormatFloat(f, 'f', -1, 64)``,
  ``+Inf``/``-Inf``/``NaN``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import numpy as np

UNITS: dict[str, str] = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds",
    "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes",
    "TiBy": "tibibytes", "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    "B": "bytes", "KB": "kilobytes", "MB": "megabytes", "GB": "gigabytes", "TB": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams",
    "Cel": "celsius", "Hz": "hertz", "1": "", "%": "percent", "$": "dollars",
}
PER_UNITS: dict[str, str] = {
    "s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year",
}
KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")

_SPLIT = re.compile(r"[^A-Za-z0-9]+")
_INVALID = re.compile(r"[^A-Za-z0-9_]")


def _tokens(text: str) -> list[str]:
    return [t for t in _SPLIT.split(text) if t]


def clean(text: str) -> str:
    """``text``'s ASCII letter/digit runs joined with ``_`` (the Collector's ``CleanUpString``)."""
    return "_".join(_tokens(text))


def metric_name(name: str, unit: str, kind: str, monotonic: bool = False) -> str:
    """The Prometheus base name of an OTel metric (see the module docstring); ``kind`` is a table kind."""
    tokens = _tokens(name)
    main, _, per = unit.partition("/")
    main, per = main.strip(), per.strip()
    if main and "{" not in main and "}" not in main:
        prom = clean(UNITS.get(main, main))
        if prom and prom not in tokens:
            tokens.append(prom)
    if per and "{" not in per and "}" not in per:
        prom = clean(PER_UNITS.get(per, per))
        if prom and prom not in tokens:
            tokens += ["per", prom]
    if kind == "sum" and monotonic:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind == "gauge":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    out = "_".join(tokens)
    return "_" + out if out[:1].isdigit() else out


def family_names(base: str, kind: str) -> tuple[str, ...]:
    """The series names of a metric whose :func:`metric_name` is ``base``."""
    if kind in ("histogram", "exponential_histogram"):
        return (f"{base}_bucket", f"{base}_sum", f"{base}_count")
    if kind == "summary":
        return (base, f"{base}_sum", f"{base}_count")
    return (base,)


def label_name(key: str) -> str:
    """An attribute key as a Prometheus label name (see the module docstring)."""
    if not key:
        return key
    out = _INVALID.sub("_", key)
    if out[0].isdigit():
        return "key_" + out
    if out.startswith("_") and not out.startswith("__"):
        return "key" + out
    return out


def attribute_labels(attrs: Mapping[str, str]) -> dict[str, str]:
    """``attrs`` as labels; colliding keys' values joined with ``;`` in sorted original-key order."""
    out: dict[str, str] = {}
    for key in sorted(attrs):
        label = label_name(key)
        if not label:
            continue
        value = attrs[key]
        out[label] = f"{out[label]};{value}" if label in out else value
    return out


def job_instance(resource: Mapping[str, str]) -> tuple[str, str]:
    """``(job, instance)`` of a resource, from ``service.namespace``/``service.name``/``service.instance.id``."""
    name = resource.get("service.name", "")
    namespace = resource.get("service.namespace", "")
    job = f"{namespace}/{name}" if name and namespace else name
    return job, resource.get("service.instance.id", "")


def format_float(x: float) -> str:
    """``x`` as Prometheus writes ``le``/``quantile``: shortest positional digits, ``+Inf``, ``NaN``."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return str(np.format_float_positional(x, trim="-"))
