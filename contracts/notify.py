"""The notification contract: how alerting hands a group of alerts to a delivery channel.

A :class:`Notifier` (email, Slack, webhook) sends one :class:`Notification` and raises
:class:`NotifyError` when it could not; ``retryable`` says whether trying again may help.
:class:`InMemoryNotifier` records what it was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class AlertInstance:
    """One alert of a notification (Alertmanager's webhook ``alerts[]`` element, times in unix seconds)."""

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: float = 0.0
    ends_at: float = 0.0
    fingerprint: str = ""


@dataclass(frozen=True)
class Notification:
    """A group of alerts routed to one receiver."""

    receiver: str
    status: Literal["firing", "resolved"]
    group_labels: dict[str, str]
    alerts: tuple[AlertInstance, ...]
    group_key: str = ""
    external_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class NotifyError(Exception):
    """Delivery failed; ``retryable`` is False when trying again cannot help (e.g. a 4xx answer)."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        """Build the error."""
        super().__init__(message)
        self.retryable = retryable


class Notifier(Protocol):
    """One delivery channel. ``send`` may be awaited concurrently for different notifications."""

    async def send(self, notification: Notification) -> None:
        """Deliver ``notification`` or raise :class:`NotifyError`."""
        ...


class InMemoryNotifier:
    """A :class:`Notifier` that records notifications, or raises ``fail`` when set."""

    def __init__(self, fail: NotifyError | None = None) -> None:
        """Build a recording notifier."""
        self.fail = fail
        self.sent: list[Notification] = []

    async def send(self, notification: Notification) -> None:
        """Record or raise ``fail``."""
        if self.fail is not None:
            raise self.fail
        self.sent.append(notification)
