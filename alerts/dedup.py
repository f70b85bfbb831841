"""Alertmanager's notification dedup decision (``notify.DedupStage.needsUpdate`` of 0.25) plus Vigil's acks.

Contract of :func:`needs_update` for one (group, integration) given the notification-log ``entry``:

* nothing logged yet — send when something fires;
* a firing alert the log has not seen — send;
* nothing fires now — send (the resolved notification) when the log still has firing alerts;
* with ``send_resolved``, a resolved alert the log has not seen — send;
* otherwise repeat once ``repeat_interval`` has passed since the logged send, **unless every firing alert is
  acknowledged** (Vigil: an ack stops repeats; a newly firing alert is still announced).
"""

from __future__ import annotations

from collections.abc import Collection

from contracts.alerting import Sent


def needs_update(entry: Sent | None, firing: Collection[str], resolved: Collection[str], repeat_ms: int,
                 now_ms: int, all_acked: bool) -> bool:
    """Whether the integration must be notified now (see the module docstring)."""
    if entry is None:
        return bool(firing)
    if not set(firing) <= set(entry.firing):
        return True
    if not firing:
        return bool(entry.firing)
    if resolved and not set(resolved) <= set(entry.resolved):
        return True
    return not all_acked and entry.at_ms <= now_ms - repeat_ms
