"""The alerting state contract: what the alert evaluator and the notifier keep in PostgreSQL.

:class:`AlertingRepository` groups everything alerting must not lose on a restart, with
:class:`InMemoryAlerting` beside it for tests (``storage.postgres.alerting`` is the real one):

* **rule-group state** — the evaluator's state of one group (``alerts.ruleeval.GroupState`` as a JSON
  document: active alerts with ``active_at``/``fired_at``, ``keep_firing_since``, last values), saved
  after every evaluation *together with* the state transitions of that evaluation (the alert history),
  in one transaction. A restarted evaluator loads it, so ``for`` is not reset and firing alerts stay firing.
* **history** — one :class:`Transition` per alert state change, newest first.
* **silences** — :class:`Silence` (matchers + ``[starts_at, ends_at)``); expiring one sets its
  ``ends_at`` to now, as Alertmanager does; silences are never deleted.
* **acknowledgements** — :class:`Ack` per alert fingerprint (who, when, optional expiry): an acked alert
  gets no repeats and no escalation until the ack expires or the alert resolves (the notifier clears it).
* **notification log** — per (group key, receiver) what was last sent and when (:class:`Sent`), so a
  restart neither re-sends nor forgets ``repeat_interval``.
* **delivery log** — one :class:`Delivery` per attempt to deliver a notification, newest first.

Times are unix milliseconds. Every method is blocking and thread-safe.
"""

from __future__ import annotations

import copy
import itertools
import threading
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

Matchers = list[list[str]]  # [[name, op, value], …] with op one of = != =~ !~


@dataclass(frozen=True)
class Transition:
    """One alert's state change (``inactive`` → ``pending`` → ``firing`` → ``inactive``)."""

    group: str  # the rule group's key (file + name)
    rule: str  # the alerting rule's name
    fingerprint: str
    labels: dict[str, str]
    from_state: str
    to_state: str
    at_ms: int
    value: float


@dataclass(frozen=True)
class Silence:
    """Alerts matching every matcher are not notified while ``starts_at_ms <= now < ends_at_ms``."""

    id: str
    matchers: Matchers
    starts_at_ms: int
    ends_at_ms: int
    created_by: str
    comment: str
    created_at_ms: int

    def state(self, now_ms: int) -> str:
        """``pending``, ``active`` or ``expired`` (Alertmanager's silence states)."""
        if now_ms < self.starts_at_ms:
            return "pending"
        return "active" if now_ms < self.ends_at_ms else "expired"


@dataclass(frozen=True)
class Ack:
    """An acknowledgement of the alert ``fingerprint``; ``expires_at_ms`` 0 means until it resolves."""

    fingerprint: str
    by: str
    at_ms: int
    expires_at_ms: int = 0
    comment: str = ""

    def active(self, now_ms: int) -> bool:
        """Whether the ack still holds at ``now_ms``."""
        return self.expires_at_ms == 0 or now_ms < self.expires_at_ms


@dataclass(frozen=True)
class Sent:
    """What a (group key, receiver) pair last received: ``firing``/``resolved`` fingerprints and the time."""

    group_key: str
    receiver: str
    at_ms: int
    firing: tuple[str, ...]
    resolved: tuple[str, ...]
    escalation_step: int = 0


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver a notification to one integration of a receiver."""

    receiver: str
    integration: str  # "email", "slack", "webhook"
    group_key: str
    attempt: int
    at_ms: int
    duration_ms: float
    outcome: str  # "ok", "retry", "failed"
    error: str = ""
    id: int = 0  # assigned by the log


class AlertingRepository(Protocol):
    """Alerting's durable state; see the module docstring."""

    def load_group(self, key: str) -> dict[str, Any] | None:
        """The last saved state document of group ``key``, or None."""
        ...

    def save_group(self, key: str, state: dict[str, Any], evaluated_at_ms: int,
                   transitions: list[Transition]) -> None:
        """Replace group ``key``'s state and append ``transitions`` to the history, atomically."""
        ...

    def history(self, limit: int = 100, fingerprint: str = "", group: str = "") -> list[Transition]:
        """Transitions newest first, optionally of one alert or one group."""
        ...

    def add_silence(self, matchers: Matchers, starts_at_ms: int, ends_at_ms: int, created_by: str,
                    comment: str, now_ms: int) -> Silence:
        """Create a silence (``ends_at_ms`` > ``starts_at_ms`` is the caller's check)."""
        ...

    def silences(self) -> list[Silence]:
        """Every silence, newest first."""
        ...

    def expire_silence(self, silence_id: str, now_ms: int) -> Silence | None:
        """End the silence now (if it has not ended); None if there is no such silence."""
        ...

    def acknowledge(self, ack: Ack) -> None:
        """Record (or replace) the ack of ``ack.fingerprint``."""
        ...

    def acks(self) -> dict[str, Ack]:
        """Every recorded ack by fingerprint."""
        ...

    def clear_ack(self, fingerprint: str) -> None:
        """Forget the ack of ``fingerprint`` (the alert resolved)."""
        ...

    def last_sent(self, group_key: str, receiver: str) -> Sent | None:
        """What was last sent to ``receiver`` for ``group_key``."""
        ...

    def record_sent(self, sent: Sent) -> None:
        """Replace the notification-log entry of ``(sent.group_key, sent.receiver)``."""
        ...

    def log_delivery(self, delivery: Delivery) -> None:
        """Append one delivery attempt."""
        ...

    def deliveries(self, limit: int = 100, receiver: str = "") -> list[Delivery]:
        """Delivery attempts newest first, optionally of one receiver."""
        ...


@dataclass
class InMemoryAlerting:
    """An :class:`AlertingRepository` in memory (documents are deep-copied, as a database would)."""

    _groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    _history: list[Transition] = field(default_factory=list)
    _silences: dict[str, Silence] = field(default_factory=dict)
    _acks: dict[str, Ack] = field(default_factory=dict)
    _sent: dict[tuple[str, str], Sent] = field(default_factory=dict)
    _deliveries: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def load_group(self, key: str) -> dict[str, Any] | None:  # noqa: D102
        with self._lock:
            doc = self._groups.get(key)
            return copy.deepcopy(doc) if doc is not None else None

    def save_group(self, key: str, state: dict[str, Any], evaluated_at_ms: int,  # noqa: D102
                   transitions: list[Transition]) -> None:
        with self._lock:
            self._groups[key] = copy.deepcopy(state)
            self._history.extend(transitions)

    def history(self, limit: int = 100, fingerprint: str = "", group: str = "") -> list[Transition]:  # noqa: D102
        with self._lock:
            rows = [t for t in reversed(self._history) if (not fingerprint or t.fingerprint == fingerprint)
                    and (not group or t.group == group)]
        return rows[:limit]

    def add_silence(self, matchers: Matchers, starts_at_ms: int, ends_at_ms: int, created_by: str,  # noqa: D102
                    comment: str, now_ms: int) -> Silence:
        s = Silence(str(uuid.uuid4()), copy.deepcopy(matchers), starts_at_ms, ends_at_ms, created_by, comment, now_ms)
        with self._lock:
            self._silences[s.id] = s
        return s

    def silences(self) -> list[Silence]:  # noqa: D102
        with self._lock:
            return sorted(self._silences.values(), key=lambda s: (s.created_at_ms, s.id), reverse=True)

    def expire_silence(self, silence_id: str, now_ms: int) -> Silence | None:  # noqa: D102
        with self._lock:
            s = self._silences.get(silence_id)
            if s is None:
                return None
            if s.ends_at_ms > now_ms:
                s = self._silences[silence_id] = replace(s, ends_at_ms=max(now_ms, s.starts_at_ms))
            return s

    def acknowledge(self, ack: Ack) -> None:  # noqa: D102
        with self._lock:
            self._acks[ack.fingerprint] = ack

    def acks(self) -> dict[str, Ack]:  # noqa: D102
        with self._lock:
            return dict(self._acks)

    def clear_ack(self, fingerprint: str) -> None:  # noqa: D102
        with self._lock:
            self._acks.pop(fingerprint, None)

    def last_sent(self, group_key: str, receiver: str) -> Sent | None:  # noqa: D102
        with self._lock:
            return self._sent.get((group_key, receiver))

    def record_sent(self, sent: Sent) -> None:  # noqa: D102
        with self._lock:
            self._sent[(sent.group_key, sent.receiver)] = sent

    def log_delivery(self, delivery: Delivery) -> None:  # noqa: D102
        with self._lock:
            self._deliveries.append(replace(delivery, id=next(self._ids)))

    def deliveries(self, limit: int = 100, receiver: str = "") -> list[Delivery]:  # noqa: D102
        with self._lock:
            rows = [d for d in reversed(self._deliveries) if not receiver or d.receiver == receiver]
        return rows[:limit]
