"""Parsing PromQL text into the ``promql_parser`` AST (a Rust parser of the Prometheus grammar).

Contract: :func:`parse` returns the AST of a syntactically and type-correct expression or raises
:class:`~query.promql.model.PromQLError` with ``error_type="bad_data"`` and the parser's message (as the
Prometheus HTTP API answers a bad query). The parser follows current Prometheus; 2.42's ``holt_winters``
(renamed ``double_exponential_smoothing`` in 3.x) is registered here so 2.42 expressions parse.
Also helpers turning AST time fields into milliseconds.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import datetime, timedelta

import promql_parser as pp

from query.promql.model import PromQLError

_registered = threading.Lock()
_done = False


def _register() -> None:
    global _done
    with _registered:
        if _done:
            return
        with contextlib.suppress(ValueError):  # a parser release that knows it already
            pp.register_extra_functions([pp.Function(
                "holt_winters", [pp.ValueType.Matrix, pp.ValueType.Scalar, pp.ValueType.Scalar],
                pp.ValueType.Vector)])
        _done = True


def parse(query: str) -> pp.Expr:
    """The AST of ``query``; :class:`PromQLError` (``bad_data``) when it does not parse."""
    _register()
    if not query.strip():
        raise PromQLError("parse error: no expression found in input", "bad_data")
    try:
        return pp.parse(query)
    except ValueError as exc:
        raise PromQLError(f"parse error: {exc}", "bad_data") from exc


def ms(d: timedelta | None) -> int:
    """A duration in whole milliseconds (0 for ``None``)."""
    if d is None:
        return 0
    return d // timedelta(milliseconds=1)


def at_ms(d: datetime) -> int:
    """A timestamp in milliseconds since the epoch."""
    return round(d.timestamp() * 1000)
