"""The live-event contract: publish/subscribe of events the dashboard and alerting push to clients.

:class:`EventBus` is implemented in-process by :class:`InProcessEventBus` (one process; Redis pub/sub
later, for several). Delivery is at-most-once and never blocks the publisher: a subscriber that falls
more than ``max_queue`` events behind loses the oldest ones (counted in ``dropped``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Topic(StrEnum):
    """Live event topics."""

    DASHBOARD_DATA = "dashboard-data"
    ALERT = "alert"
    PERFORMANCE = "performance"


@dataclass(frozen=True)
class Event:
    """One published event; ``data`` must be JSON-serialisable."""

    topic: Topic
    data: dict[str, Any]


class Subscription(Protocol):
    """An async iterator of events of the topics subscribed to; ``close`` ends it."""

    def __aiter__(self) -> AsyncIterator[Event]:
        """Iterate events until closed."""
        ...

    def close(self) -> None:
        """Stop receiving; the iterator ends after the events already queued."""
        ...


class EventBus(Protocol):
    """Thread-safe publisher; subscriptions are consumed on an asyncio loop."""

    def publish(self, topic: Topic, data: dict[str, Any]) -> None:
        """Deliver ``data`` to every current subscriber of ``topic``; never blocks, from any thread."""
        ...

    def subscribe(self, *topics: Topic, max_queue: int = 1000) -> Subscription:
        """Subscribe (on the running loop) to ``topics``; every topic when none is given."""
        ...


_CLOSED = object()


@dataclass(eq=False)
class _Subscriber:
    bus: InProcessEventBus
    topics: frozenset[Topic]
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Any]
    max_queue: int = 1000
    dropped: int = 0
    closed: bool = field(default=False)

    def offer(self, item: Any) -> None:
        """On the subscriber's loop: queue ``item``, dropping the oldest event beyond ``max_queue``."""
        while item is not _CLOSED and self.queue.qsize() >= self.max_queue:
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
                self.dropped += 1
        self.queue.put_nowait(item)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        while True:
            item = await self.queue.get()
            if item is _CLOSED:
                return
            yield item

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.bus._remove(self)
        with contextlib.suppress(RuntimeError):  # loop already closed: nobody iterates any more
            self.loop.call_soon_threadsafe(self.offer, _CLOSED)


class InProcessEventBus:
    """:class:`EventBus` for one process. ``published`` keeps the last 1000 events (for tests and replay)."""

    def __init__(self) -> None:
        """Start with no subscribers."""
        self._lock = threading.Lock()
        self._subscribers: list[_Subscriber] = []
        self.published: list[Event] = []

    def publish(self, topic: Topic, data: dict[str, Any]) -> None:
        """Hand the event to each subscriber's loop (thread-safe, non-blocking)."""
        event = Event(Topic(topic), data)
        with self._lock:
            self.published.append(event)
            del self.published[:-1000]
            targets = [s for s in self._subscribers if event.topic in s.topics]
        for sub in targets:
            with contextlib.suppress(RuntimeError):  # its loop closed without closing the subscription
                sub.loop.call_soon_threadsafe(sub.offer, event)

    def subscribe(self, *topics: Topic, max_queue: int = 1000) -> _Subscriber:
        """Subscribe on the running loop (raises RuntimeError outside one)."""
        loop = asyncio.get_running_loop()
        sub = _Subscriber(self, frozenset(topics or tuple(Topic)), loop, asyncio.Queue(), max(1, max_queue))
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def subscriber_count(self) -> int:
        """How many subscriptions are open."""
        with self._lock:
            return len(self._subscribers)

    def _remove(self, sub: _Subscriber) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)
