"""The ``alerts`` module: evaluates every rule group at its interval, on exactly one process.

:class:`AlertScheduler` (a :class:`vigil.modules.Component`) owns a :class:`~alerts.rules_dir.RuleSet` and
a :class:`~alerts.evaluator.RuleEvaluator`:

* **Schedule** — group ``g`` with interval ``i`` is evaluated at the times ``k·i + offset(g)``, where the
  offset is a stable hash of the group's key modulo ``i`` (as Prometheus spreads groups); a slot missed
  while busy or not leading is skipped, never replayed.
* **One evaluator** — with a :class:`Lease` (a PostgreSQL advisory lock from the composition root) only
  the holder evaluates; the others retry every :data:`LEASE_CHECK_S`, or every shortest group interval when
  that is shorter (so a killed leader is replaced within about one interval). A process that gains the lease
  reloads the groups' state from the repository first, so it continues the previous leader's ``for``
  timers and firing alerts without re-notifying (the notification log is in the repository too).
* **Reload** — :meth:`AlertScheduler.request_reload` (SIGHUP, ``POST /api/rules/reload``) and a poll of
  the files every ``poll_s``; an invalid set is refused and the last good one keeps running.
* **Notifications** — with a :class:`~alerts.notify_config.NotifyConfigFile`, a
  :class:`~alerts.dispatcher.Dispatcher` is given the evaluator's alerts on every tick of the leader, once
  every group's state is loaded (so a new leader never mistakes unloaded state for resolved alerts). The
  file reloads with the rules; an invalid edit keeps the last good configuration.
* ``after_evaluation(key, t_ms)`` is called after each evaluation.

Evaluations run in a worker thread (the store blocks). A failing evaluation is logged, counted and
shown in :meth:`health`; the loop goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from alerts.dispatcher import Dispatcher
from alerts.evaluator import RuleEvaluator
from alerts.notifiers.delivery import RetryPolicy
from alerts.notify_config import NotifyConfigFile
from alerts.rules_dir import RuleSet

log = logging.getLogger("vigil.alerts")

LEASE_CHECK_S = 5.0


class Lease(Protocol):
    """Leadership among evaluator processes."""

    def try_acquire(self) -> bool:
        """Hold the lease now (True) or not."""
        ...

    def release(self) -> None:
        """Give it up."""
        ...


def offset_ms(key: str, interval_ms: int) -> int:
    """The group's stable offset inside its interval."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % max(interval_ms, 1)


def slot(now_ms: int, interval_ms: int, offset: int) -> int:
    """The latest evaluation time of the schedule at or before ``now_ms``."""
    return (now_ms - offset) // interval_ms * interval_ms + offset


class AlertScheduler:
    """Runs the evaluator on schedule; see the module docstring."""

    name = "alerts"

    def __init__(self, evaluator: RuleEvaluator, rules: RuleSet, lease: Lease | None = None, poll_s: float = 5.0,
                 clock: Callable[[], float] = time.time,
                 after_evaluation: Callable[[str, int], None] | None = None,
                 notify: NotifyConfigFile | None = None, retry: RetryPolicy | None = None) -> None:
        """Configure; nothing runs before :meth:`start`."""
        self.evaluator, self.rules, self.lease = evaluator, rules, lease
        self.notify, self.retry = notify, retry
        self.dispatcher: Dispatcher | None = None
        self.poll_s, self.clock, self.after_evaluation = poll_s, clock, after_evaluation
        self.leader = False
        self.evaluations = self.failures = 0
        self.last_error = ""
        self._done: dict[str, int] = {}  # group key → the last slot evaluated
        self._reload = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def request_reload(self) -> None:
        """Reload the rule files at the next tick (thread-safe only from the loop's thread)."""
        self._reload.set()

    def reload_now(self) -> bool:
        """Reload the files now; True when the new set is in force."""
        ok = self.rules.reload()
        if ok:
            self.evaluator.load(self.rules.groups)
        if self.notify is not None and self.notify.reload():
            assert self.notify.config is not None
            if self.dispatcher is None:
                self.dispatcher = Dispatcher(self.notify.config, self.evaluator.repo, self.evaluator.external_url,
                                             self.retry, self.clock)
            else:
                self.dispatcher.set_config(self.notify.config)
        return ok and not (self.notify is not None and self.notify.problems)

    async def start(self) -> None:
        """Load the rules (an invalid set leaves none in force, with its problems reported) and start."""
        await asyncio.to_thread(self.reload_now)
        self._task = asyncio.create_task(self._run())

    async def _lead(self) -> bool:
        if self.lease is None:
            return True
        held = await asyncio.to_thread(self.lease.try_acquire)
        if held and not self.leader:
            log.info("alert evaluator: leading (state reloaded from the metadata store)")
            self.evaluator.reload_state()
            self._done.clear()
            if self.dispatcher is not None:  # aggregation groups restart; the notification log prevents repeats
                self.dispatcher.groups.clear()
        elif not held and self.leader:
            log.warning("alert evaluator: lost the lease; standing by")
        self.leader = held
        return held

    async def _run(self) -> None:
        next_lease = next_poll = 0.0
        while True:
            now = self.clock()
            if self._reload.is_set() or now >= next_poll:
                next_poll = now + self.poll_s
                if self._reload.is_set() or await asyncio.to_thread(self._changed):
                    self._reload.clear()
                    await asyncio.to_thread(self.reload_now)
            if now >= next_lease:
                next_lease = now + self._lease_period()
                await self._lead()
            if self.leader:
                await self._evaluate_due(int(now * 1000))
                if self.dispatcher is not None and self.evaluator.ready():
                    await self.dispatcher.tick(self.evaluator.notifiable(), int(self.clock() * 1000))
            await asyncio.sleep(0.5)

    def _lease_period(self) -> float:
        shortest = min((g.interval_ms for g in self.evaluator.groups.values()), default=60_000) / 1000
        return max(0.5, min(LEASE_CHECK_S, shortest))

    def _changed(self) -> bool:
        return self.rules.changed() or (self.notify is not None and self.notify.changed())

    async def _evaluate_due(self, now_ms: int) -> None:
        for key, status in list(self.evaluator.groups.items()):
            t = slot(now_ms, status.interval_ms, offset_ms(key, status.interval_ms))
            if self._done.get(key, -1) >= t:
                continue
            self._done[key] = t
            try:
                await asyncio.to_thread(self.evaluator.evaluate, key, t)
                self.evaluations += 1
                self.last_error = ""
            except Exception as exc:  # noqa: BLE001 - one group's failure must not stop the others
                self.failures += 1
                self.last_error = f"{key}: {type(exc).__name__}: {exc}"
                log.warning("rule group evaluation failed: %s", self.last_error)
                continue
            if self.after_evaluation is not None:
                try:
                    self.after_evaluation(key, t)
                except Exception as exc:  # noqa: BLE001
                    log.warning("after-evaluation hook failed for %s: %s", key, exc)

    async def stop(self, timeout: float) -> None:
        """Stop the loop and give up the lease."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        if self.lease is not None:
            await asyncio.to_thread(self.lease.release)
        self.leader = False

    def health(self) -> dict[str, Any]:
        """``error`` while evaluations fail (the store); refused rule files are reported, not an error.

        A bad edit of a rule file must not take the whole process out of a load balancer's rotation: the
        previous rules keep running and ``rule_file_problems`` (and ``/api/rules``) say what is wrong; the same
        for the alerting configuration (``alerting_config_problems``).
        """
        d = self.dispatcher
        return {"status": "error" if self.last_error else "ok", "leader": self.leader,
                "groups": len(self.evaluator.groups), "evaluations": self.evaluations, "failures": self.failures,
                "notifications_sent": d.sent if d else 0, "notifications_failed": d.failed if d else 0,
                "rule_file_problems": self.rules.problems[:20],
                "alerting_config_problems": self.notify.problems[:20] if self.notify is not None else [],
                "last_error": self.last_error}
