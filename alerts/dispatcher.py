"""The notification dispatcher: Alertmanager's dispatch pipeline over the evaluator's alerts, in process.

:meth:`Dispatcher.tick` is given every alert the rules currently hold (firing, and resolved ones the
evaluator still remembers) and does what Alertmanager 0.25 does with alerts pushed to it:

* **route** each alert through the routing tree (:meth:`alerts.routing.Route.match`) into an aggregation
  group per (route, ``group_by`` values); a new group is flushed after ``group_wait`` (at once when an alert
  in it started longer than ``group_wait`` ago), then every ``group_interval``;
* at a flush, drop alerts that an active **silence** matches or an **inhibition** rule mutes; skip the
  flush entirely inside a route's ``mute_time_intervals`` or outside its ``active_time_intervals``;
* per integration of the route's receiver, decide with the **notification log** (:func:`alerts.dedup.
  needs_update`) whether to send: new firing alerts, the resolved notification, or a repeat after
  ``repeat_interval`` — not while every firing alert is **acknowledged**; deliver with retries
  (:func:`alerts.notifiers.delivery.deliver`) and log the send only when it succeeded, so a failed group is
  tried again at its next flush, and a restart or a new leader neither repeats nor forgets a send;
* **escalation** (Vigil): when the route has ``vigil_escalation``, step ``i`` of the policy notifies its
  receivers once the earliest *unacknowledged* firing alert of the group has fired for the step's
  ``after``; steps have their own log entries (``receiver/integration@stepN``), get the resolved
  notification when the group resolves, and stop (no repeat) while every firing alert is acknowledged;
* an alert that resolves loses its acknowledgement; an alert that vanishes (its rule was deleted) is
  treated as resolved at that moment.

Each group flushes in its own task, at most one at a time. Blocking repository calls run in threads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from alerts.am_matchers import matches_all
from alerts.amconfig import AmConfig
from alerts.dedup import needs_update
from alerts.inhibit import is_inhibited
from alerts.notifiers.delivery import Integration, RetryPolicy, deliver, integrations
from alerts.routing import Route
from alerts.timeintervals import interval_contains
from contracts.alerting import AlertingRepository, Sent, Silence
from contracts.notify import AlertInstance, Notification
from query.promql.model import Matcher

log = logging.getLogger("vigil.alerts.notify")
RESOLVED_KEEP_MS = 15 * 60_000
NEVER = 2**62


@dataclass
class _Group:
    route: Route
    key: str
    labels: dict[str, str]
    next_flush_ms: int
    alerts: dict[str, AlertInstance] = field(default_factory=dict)
    next_escalation_ms: int = NEVER
    busy: bool = False
    flushed: bool = False


@dataclass(frozen=True)
class _Job:
    integration: Integration
    log_key: str
    firing: list[AlertInstance]
    resolved: list[AlertInstance]
    all_acked: bool


@dataclass(frozen=True)
class _Mutes:
    """What a tick's flushes share: every firing alert (inhibition sources), active silences and acks."""

    firing: list[dict[str, str]]
    silences: list[Silence]
    acks: set[str]


def silenced(labels: dict[str, str], silences: Sequence[Silence]) -> bool:
    """Whether an (active) silence matches every one of its matchers against ``labels``."""
    return any(matches_all([Matcher.make(n, op, v) for n, op, v in s.matchers], labels) for s in silences)


class Dispatcher:
    """Routes, groups, mutes, deduplicates and delivers notifications; see the module docstring."""

    def __init__(self, config: AmConfig, repo: AlertingRepository, external_url: str = "",
                 retry: RetryPolicy | None = None, clock: Callable[[], float] = time.time) -> None:
        """Deliver per ``config``, keeping the notification and delivery logs in ``repo``."""
        self.repo, self.external_url, self.clock = repo, external_url, clock
        self.retry = retry or RetryPolicy()
        self.groups: dict[str, _Group] = {}
        self.sent = self.failed = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._resolved: set[str] = set()
        self.set_config(config)

    def set_config(self, config: AmConfig) -> None:
        """Use ``config`` from now on; aggregation groups start afresh (the notification log prevents repeats)."""
        self.config = config
        self.integrations = {name: integrations(r, config.global_) for name, r in config.receivers.items()}
        for r in config.receivers.values():
            if r.unsupported:
                log.warning("receiver %s: %s are not supported by Vigil and are not sent", r.name,
                            ", ".join(r.unsupported))
        self.groups = {}

    async def tick(self, alerts: Sequence[AlertInstance], now_ms: int | None = None) -> None:
        """Take the current alerts and start the flushes that are due (returns without waiting for them)."""
        now = int(self.clock() * 1000) if now_ms is None else now_ms
        self._ingest(alerts, now)
        await self._clear_acks(alerts)
        firing = [a.labels for g in self.groups.values() for a in g.alerts.values() if a.status == "firing"]
        due = [g for g in self.groups.values() if not g.busy and now >= min(g.next_flush_ms, g.next_escalation_ms)]
        if not due:
            return
        silences = [s for s in await asyncio.to_thread(self.repo.silences) if s.state(now) == "active"]
        acks = {fp for fp, a in (await asyncio.to_thread(self.repo.acks)).items() if a.active(now)}
        for g in due:
            g.busy = True
            task = asyncio.create_task(self._flush(g, now, _Mutes(firing, silences, acks)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for every running flush (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        """Cancel running flushes (their sends are not logged, so the next leader retries them)."""
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _ingest(self, alerts: Sequence[AlertInstance], now: int) -> None:
        current: dict[str, dict[str, AlertInstance]] = {}
        for a in alerts:
            for route in self.config.route.match(a.labels):
                key = route.group_key(a.labels)
                g = self.groups.get(key)
                if g is None:
                    g = self.groups[key] = _Group(route, key, route.group_labels(a.labels),
                                                  now + route.group_wait_ms)
                if not g.flushed and a.starts_at * 1000 + route.group_wait_ms < now:  # an old alert: flush now
                    g.next_flush_ms = min(g.next_flush_ms, now)
                current.setdefault(key, {})[a.fingerprint] = a
        for key, g in list(self.groups.items()):
            new = current.get(key, {})
            for fp, old in g.alerts.items():
                if fp in new:
                    continue
                if old.status == "firing":
                    new[fp] = dataclasses.replace(old, status="resolved", ends_at=now / 1000)
                elif now - old.ends_at * 1000 < RESOLVED_KEEP_MS:
                    new[fp] = old
            g.alerts = new
            if not new and not g.busy:
                del self.groups[key]

    async def _clear_acks(self, alerts: Sequence[AlertInstance]) -> None:
        now_resolved = {a.fingerprint for a in alerts if a.status == "resolved"}
        resolved, self._resolved = now_resolved - self._resolved, now_resolved  # newly resolved only
        if not resolved:
            return
        acks = await asyncio.to_thread(self.repo.acks)
        for fp in resolved & acks.keys():
            await asyncio.to_thread(self.repo.clear_ack, fp)

    def _time_muted(self, route: Route, now: int) -> bool:
        when = datetime.fromtimestamp(now / 1000, UTC)
        ti = self.config.time_intervals
        if any(interval_contains(ti.get(n, []), when) for n in route.mute_time_intervals):
            return True
        return bool(route.active_time_intervals) and not any(
            interval_contains(ti.get(n, []), when) for n in route.active_time_intervals)

    async def _flush(self, g: _Group, now: int, mutes: _Mutes) -> None:
        try:
            if now >= g.next_flush_ms:
                g.next_flush_ms, g.flushed = now + g.route.group_interval_ms, True
            if self._time_muted(g.route, now):
                return
            acks = mutes.acks
            shown = sorted((a for a in g.alerts.values() if not silenced(a.labels, mutes.silences)
                            and not (a.status == "firing" and is_inhibited(a.labels, mutes.firing,
                                                                           self.config.inhibit_rules))),
                           key=lambda a: (a.status != "firing", a.starts_at, a.fingerprint))
            firing = [a for a in shown if a.status == "firing"]
            resolved = [a for a in shown if a.status == "resolved"]
            unacked = [a for a in firing if a.fingerprint not in acks]
            jobs = [_Job(i, f"{i.receiver}/{i.name}", firing, resolved, not unacked)
                    for i in self.integrations.get(g.route.receiver, [])]
            jobs += self._escalation_jobs(g, now, firing, resolved, unacked)
            await asyncio.gather(*(self._notify(g, j, now) for j in jobs))
        except Exception:  # noqa: BLE001 - one group's failure must not stop the dispatcher
            log.exception("notification flush of %s failed", g.key)
        finally:
            g.busy = False

    def _escalation_jobs(self, g: _Group, now: int, firing: list[AlertInstance], resolved: list[AlertInstance],
                         unacked: list[AlertInstance]) -> list[_Job]:
        g.next_escalation_ms = NEVER
        steps = self.config.escalation_policies.get(g.route.escalation or "", [])
        since = min((int(a.starts_at * 1000) for a in unacked), default=None)
        jobs: list[_Job] = []
        for i, (after_ms, receivers) in enumerate(steps, start=1):
            due = since is not None and now >= since + after_ms
            if since is not None and not due:
                g.next_escalation_ms = min(g.next_escalation_ms, since + after_ms)
            for name in receivers:
                for integ in self.integrations.get(name, []):
                    key = f"{integ.receiver}/{integ.name}@step{i}"
                    if due:
                        jobs.append(_Job(integ, key, firing, resolved, False))
                    elif not firing:
                        jobs.append(_Job(integ, key, [], resolved, True))
        return jobs

    async def _notify(self, g: _Group, job: _Job, now: int) -> None:
        ch = job.integration.channel
        resolved = job.resolved if ch.send_resolved else []
        entry = await asyncio.to_thread(self.repo.last_sent, g.key, job.log_key)
        firing_fps = tuple(a.fingerprint for a in job.firing)
        resolved_fps = tuple(a.fingerprint for a in resolved)
        if not needs_update(entry, firing_fps, resolved_fps, g.route.repeat_interval_ms, now, job.all_acked):
            return
        if job.firing or resolved:
            n = Notification(job.integration.receiver, "firing" if job.firing else "resolved", dict(g.labels),
                             tuple(job.firing + resolved), g.key, self.external_url)
            if not await deliver(job.integration, n, self.repo, self.retry, self.clock):
                self.failed += 1
                return
            self.sent += 1
        step = int(job.log_key.rpartition("@step")[2] or 0) if "@step" in job.log_key else 0
        await asyncio.to_thread(self.repo.record_sent, Sent(g.key, job.log_key, now, firing_fps, resolved_fps, step))
