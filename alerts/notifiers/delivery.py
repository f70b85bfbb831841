"""Building a receiver's integrations and delivering one notification with retries and a delivery log.

* :func:`integrations` — one :class:`Integration` per configured ``email_configs``/``slack_configs``/
  ``webhook_configs`` entry of a receiver, named ``email[0]``, ``slack[1]``… (Alertmanager's integration
  names), so each keeps its own notification-log entry and ``send_resolved``.
* :func:`deliver` — sends with exponential back-off and jitter (``tenacity``) while the error is
  retryable and the policy allows; every attempt is appended to the delivery log with its outcome
  ``ok``, ``retry`` (failed, will try again) or ``failed`` (given up). Returns whether it was delivered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from alerts.amconfig import Receiver
from alerts.notifiers.email import EmailNotifier
from alerts.notifiers.slack import SlackNotifier
from alerts.notifiers.webhook import WebhookNotifier
from contracts.alerting import AlertingRepository, Delivery
from contracts.notify import Notification, NotifyError

log = logging.getLogger("vigil.alerts.notify")


class Channel(Protocol):
    """A notifier with the Alertmanager integration properties the dispatcher needs."""

    kind: str
    send_resolved: bool

    async def send(self, notification: Notification) -> None:
        """Deliver or raise ``NotifyError``."""
        ...


@dataclass(frozen=True)
class Integration:
    """One configured channel of a receiver."""

    receiver: str
    name: str  # e.g. "webhook[0]"
    channel: Channel


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off from ``initial_s`` doubling up to ``max_s`` (jittered); at most ``attempts`` tries or ``deadline_s``."""

    initial_s: float = 1.0
    max_s: float = 60.0
    attempts: int = 8
    deadline_s: float = 300.0


def integrations(receiver: Receiver, global_: dict[str, Any]) -> list[Integration]:
    """The receiver's integrations (types Vigil cannot send are skipped; :func:`unsupported` lists them)."""
    out: list[Integration] = []
    for kind, build in (("email_configs", lambda c: EmailNotifier(c, global_)),
                        ("slack_configs", lambda c: SlackNotifier(c, global_)),
                        ("webhook_configs", WebhookNotifier)):
        for i, cfg in enumerate(receiver.configs.get(kind, [])):
            ch: Channel = build(cfg)
            out.append(Integration(receiver.name, f"{ch.kind}[{i}]", ch))
    return out


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, NotifyError) and exc.retryable


async def deliver(integration: Integration, n: Notification, repo: AlertingRepository, policy: RetryPolicy,
                  clock: Callable[[], float] = time.time) -> bool:
    """Send ``n`` through ``integration`` with retries; log every attempt; True when delivered."""
    attempt, t0 = 0, time.monotonic()

    async def record(outcome: str, started: float, error: str = "") -> None:
        d = Delivery(integration.receiver, integration.name, n.group_key, attempt, int(clock() * 1000),
                     (time.perf_counter() - started) * 1000, outcome, error[:500])
        await asyncio.to_thread(repo.log_delivery, d)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.deadline_s),
        wait=wait_exponential_jitter(initial=policy.initial_s, max=policy.max_s, jitter=policy.initial_s),
        retry=retry_if_exception(_retryable), reraise=False)
    try:
        async for try_ in retrying:
            with try_:
                attempt += 1
                started = time.perf_counter()
                try:
                    await integration.channel.send(n)
                except NotifyError as exc:
                    final = (not exc.retryable or attempt >= policy.attempts
                             or time.monotonic() - t0 >= policy.deadline_s)
                    await record("failed" if final else "retry", started, str(exc))
                    raise
                except Exception as exc:  # a bug in a channel must not kill the dispatcher
                    await record("failed", started, f"{type(exc).__name__}: {exc}")
                    raise NotifyError(f"{type(exc).__name__}: {exc}", retryable=False) from exc
                await record("ok", started)
        return True
    except (RetryError, NotifyError) as exc:
        log.warning("notification to %s/%s failed after %d attempt(s): %s", integration.receiver, integration.name,
                    attempt, exc)
        return False
