"""The live feed: WebSocket ``/ws`` streaming ``dashboard-data``, ``alert`` and ``performance`` events.

Protocol (JSON text frames):

* Connect to ``/ws?topics=dashboard-data,performance&service=checkout`` (both optional: every topic,
  every service). The server first sends ``{"type": "hello", "topics": [...], "service": ...}``.
* Each event is ``{"type": <topic>, "data": {...}, "dropped": <n>}``; ``dropped`` counts events this
  client lost so far because it read too slowly (the bus keeps at most :data:`QUEUE` per client and
  drops the oldest — a slow client never slows the publisher or other clients).
* The client may send ``{"type": "subscribe", "topics": [...], "service": "..."}`` to change its
  filters; the server answers with a new ``hello``. Anything else gets ``{"type": "error", ...}``.
* Service filter: an event passes when its data names no service, or names the service in
  ``service`` or in the list ``services``.
* A send that does not complete within :data:`SEND_TIMEOUT_S` closes the connection (code 1011); at
  most :data:`MAX_CLIENTS` connections are served, further ones are closed with 1013 (try later).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.params import Dependency

from contracts.events import Event, EventBus, Topic

QUEUE = 100
SEND_TIMEOUT_S = 10.0
MAX_CLIENTS = 256
_clients = 0


class Filters(msgspec.Struct, frozen=True):
    """What one client wants."""

    topics: tuple[Topic, ...]
    service: str | None


def parse_topics(raw: str | list[str] | None) -> tuple[Topic, ...]:
    """Topics from ``"a,b"`` or ``["a", "b"]``; every topic when empty. Raises ValueError naming a bad one."""
    items = raw.split(",") if isinstance(raw, str) else list(raw or [])
    topics = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            topics.append(Topic(item))
        except ValueError:
            known = ", ".join(t.value for t in Topic)
            raise ValueError(f"topics: unknown topic {item[:40]!r}; topics: {known}") from None
    return tuple(topics) or tuple(Topic)


def passes(event: Event, filters: Filters) -> bool:
    """Whether ``event`` matches the client's topics and service filter."""
    if event.topic not in filters.topics:
        return False
    if not filters.service:
        return True
    named = event.data.get("service")
    services = event.data.get("services")
    if named is None and not isinstance(services, list):
        return True
    return named == filters.service or (isinstance(services, list) and filters.service in services)


async def _send(socket: WebSocket[Any, Any, Any], message: dict[str, Any]) -> None:
    await asyncio.wait_for(socket.send_json(message), timeout=SEND_TIMEOUT_S)


def _hello(filters: Filters) -> dict[str, Any]:
    return {"type": "hello", "topics": [t.value for t in filters.topics], "service": filters.service}


async def _pump(socket: WebSocket[Any, Any, Any], bus: EventBus, state: dict[str, Filters]) -> None:
    """Forward bus events to the client until the connection ends."""
    subscription = bus.subscribe(*Topic, max_queue=QUEUE)
    try:
        async for event in subscription:
            if passes(event, state["filters"]):
                await _send(socket, {"type": event.topic.value, "data": event.data,
                                     "dropped": getattr(subscription, "dropped", 0)})
    finally:
        subscription.close()


async def _listen(socket: WebSocket[Any, Any, Any], state: dict[str, Filters]) -> None:
    """Apply the client's ``subscribe`` messages until it disconnects."""
    while True:
        try:
            text = await socket.receive_text()
        except WebSocketDisconnect:
            return
        try:
            message = msgspec.json.decode(text)
        except msgspec.DecodeError:
            await _send(socket, {"type": "error", "error": "messages must be JSON objects"})
            continue
        if not isinstance(message, dict) or message.get("type") != "subscribe":
            await _send(socket, {"type": "error", "error": "expected {\"type\": \"subscribe\", ...}"})
            continue
        try:
            topics = parse_topics(message.get("topics"))
        except ValueError as exc:
            await _send(socket, {"type": "error", "error": str(exc)})
            continue
        service = message.get("service")
        state["filters"] = Filters(topics, str(service) if service else None)
        await _send(socket, _hello(state["filters"]))


@websocket("/ws", include_in_schema=False)
async def live_feed(socket: WebSocket[Any, Any, Any],
                    bus: Annotated[EventBus | None, Dependency(skip_validation=True)]) -> None:
    """Stream live events to one client (see the module doc for the protocol)."""
    global _clients
    await socket.accept()
    if bus is None or _clients >= MAX_CLIENTS:
        await socket.close(code=1013, reason="live feed unavailable" if bus is None else "too many clients")
        return
    try:
        filters = Filters(parse_topics(socket.query_params.get("topics")), socket.query_params.get("service"))
    except ValueError as exc:
        await socket.close(code=1008, reason=str(exc)[:120])
        return
    _clients += 1
    state = {"filters": filters}
    try:
        await _send(socket, _hello(filters))
        pump = asyncio.create_task(_pump(socket, bus, state))
        listen = asyncio.create_task(_listen(socket, state))
        done, pending = await asyncio.wait({pump, listen}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in done:
            if not task.cancelled() and isinstance(task.exception(), TimeoutError):
                with contextlib.suppress(Exception):
                    await socket.close(code=1011, reason="client too slow")
    finally:
        _clients -= 1
