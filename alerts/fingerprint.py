"""Alert fingerprints as Prometheus and Alertmanager compute them (``model.LabelSet.Fingerprint``).

FNV-1a 64 over the label names in sorted order, each name and value followed by the separator byte
``0xff``; written as 16 lower-case hex digits. The same label set always has the same fingerprint in
Vigil, in Alertmanager's webhook payloads and in Grafana, so acks and silences can refer to it.
"""

from __future__ import annotations

from collections.abc import Mapping

_OFFSET = 14695981039346656037
_PRIME = 1099511628211
_MASK = (1 << 64) - 1
_SEP = 0xFF


def fingerprint(labels: Mapping[str, str]) -> str:
    """The label set's fingerprint (16 hex digits)."""
    h = _OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for b in part.encode("utf-8"):
                h = ((h ^ b) * _PRIME) & _MASK
            h = ((h ^ _SEP) * _PRIME) & _MASK
    return f"{h:016x}"
