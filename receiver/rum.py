"""Browser RUM beacons (``POST /v1/rum``): validation and translation into an OTLP logs request.

A beacon is a JSON object (sent as ``text/plain`` by ``navigator.sendBeacon`` or as
``application/json`` by ``fetch(…, {keepalive: true})``)::

    {"service": "shop-web", "env": "prod", "session": "k3j…",
     "page": {"url": "https://shop.example/p/42", "route": "/p/:id"},
     "device": "mobile", "connection": "4g", "navigationType": "navigate",
     "traceparent": "00-<32 hex>-<16 hex>-01",
     "events": [{"type": "vital", "name": "LCP", "value": 1834.2, "delta": 1834.2, "id": "v5-…",
                 "t": 1767225600000, "attribution": {"element": "img.hero", …}},
                {"type": "error", "kind": "error", "errorType": "TypeError", "message": "x is undefined",
                 "stack": "…", "t": 1767225601000}]}

:func:`beacon_to_logs` checks every field (types, lengths, allowed values, finite non-negative vital
values, timestamps within :data:`MAX_AGE_MS` in the past and :data:`MAX_SKEW_MS` in the future) and
raises :class:`BeaconError` naming the first offending field (``events[2].value``); a beacon with any
bad field is refused whole. Unknown keys are ignored (newer snippets). The result follows
:mod:`contracts.webvitals`' storage schema; ratings are computed here from the official thresholds.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2

from contracts.webvitals import ATTR, EVENT_ERROR, EVENT_VITAL, THRESHOLDS, rating

MAX_EVENTS = 50
MAX_AGE_MS = 24 * 3_600_000
MAX_SKEW_MS = 5 * 60_000
MAX_ATTRIBUTION_KEYS = 20
DEVICES = ("mobile", "tablet", "desktop")
CONNECTIONS = ("slow-2g", "2g", "3g", "4g")
NAVIGATIONS = ("navigate", "reload", "back-forward", "back-forward-cache", "prerender", "restore")
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,63}$")
_MAX_VALUE = {"CLS": 1_000.0}  # a CLS above this is nonsense; durations are capped at a day
SDK = {"telemetry.sdk.name": "vigil-rum", "telemetry.sdk.language": "webjs"}


class BeaconError(ValueError):
    """A refused beacon: ``field`` is the offending field's path, ``message`` says why."""

    def __init__(self, field: str, message: str) -> None:  # noqa: D107
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def _text(obj: dict[str, Any], key: str, path: str, limit: int, required: bool = False) -> str:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise BeaconError(f"{path}{key}", "is required")
        return ""
    if not isinstance(value, str):
        raise BeaconError(f"{path}{key}", "must be a string")
    if len(value) > limit:
        raise BeaconError(f"{path}{key}", f"longer than {limit} characters")
    return value


def _choice(obj: dict[str, Any], key: str, path: str, allowed: tuple[str, ...]) -> str:
    value = _text(obj, key, path, 32)
    if value and value not in allowed:
        raise BeaconError(f"{path}{key}", f"must be one of {', '.join(allowed)}")
    return value


def _number(obj: dict[str, Any], key: str, path: str, lo: float, hi: float, required: bool = True) -> float | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise BeaconError(f"{path}{key}", "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BeaconError(f"{path}{key}", "must be a finite number")
    if not lo <= value <= hi:
        raise BeaconError(f"{path}{key}", f"must be between {lo:g} and {hi:g}")
    return float(value)


def _kv(target: Any, key: str, value: str | float | bool) -> None:
    kv = target.add()
    kv.key = key
    if isinstance(value, bool):
        kv.value.bool_value = value
    elif isinstance(value, float):
        kv.value.double_value = value
    else:
        kv.value.string_value = value


def _attribution(raw: Any, path: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BeaconError(path, "must be an object")
    if len(raw) > MAX_ATTRIBUTION_KEYS:
        raise BeaconError(path, f"more than {MAX_ATTRIBUTION_KEYS} keys")
    out: dict[str, str] = {}
    for k, v in raw.items():
        if not isinstance(k, str) or not _KEY.match(k):
            raise BeaconError(path, "keys must be identifiers of at most 64 characters")
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise BeaconError(f"{path}.{k}", "must be a string or a number")
        text = v if isinstance(v, str) else (repr(float(v)) if isinstance(v, float) else str(v))
        out[k] = text[:512]
    return out


def parse_beacon(body: bytes) -> dict[str, Any]:
    """The beacon's JSON object; :class:`BeaconError` (field ``body``) when it is not one."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BeaconError("body", f"not JSON: {str(exc)[:100]}") from None
    if not isinstance(doc, dict):
        raise BeaconError("body", "must be a JSON object")
    return doc


def _page_attributes(doc: dict[str, Any], user_agent: str) -> dict[str, str]:
    """The attributes every event of the beacon carries (page, device, connection, session)."""
    page = doc.get("page")
    if not isinstance(page, dict):
        raise BeaconError("page", "must be an object with url")
    url = _text(page, "url", "page.", 2048, required=True)
    m = re.match(r"^https?://[^/?#]+([^?#]*)", url)
    if m is None:
        raise BeaconError("page.url", "must be an http(s) URL")
    path = m.group(1) or "/"
    return {ATTR.URL: url, ATTR.PATH: path, ATTR.ROUTE: _text(page, "route", "page.", 256) or path,
            ATTR.DEVICE: _choice(doc, "device", "", DEVICES),
            ATTR.CONNECTION: _choice(doc, "connection", "", CONNECTIONS),
            ATTR.NAVIGATION: _choice(doc, "navigationType", "", NAVIGATIONS),
            ATTR.SESSION: _text(doc, "session", "", 64), ATTR.USER_AGENT: user_agent[:512]}


def _trace_ids(doc: dict[str, Any]) -> tuple[bytes, bytes] | None:
    trace = _text(doc, "traceparent", "", 55)
    if not trace:
        return None
    ids = _TRACEPARENT.match(trace)
    if ids is None or set(ids.group(1)) == {"0"} or set(ids.group(2)) == {"0"}:
        raise BeaconError("traceparent", "must be a W3C traceparent (00-<trace id>-<span id>-<flags>)")
    return bytes.fromhex(ids.group(1)), bytes.fromhex(ids.group(2))


def _events(doc: dict[str, Any]) -> list[Any]:
    events = doc.get("events")
    if not isinstance(events, list) or not events:
        raise BeaconError("events", "must be a non-empty list")
    if len(events) > MAX_EVENTS:
        raise BeaconError("events", f"more than {MAX_EVENTS} events")
    return events


def beacon_to_logs(doc: dict[str, Any], now_ms: int, user_agent: str = "") -> ExportLogsServiceRequest:
    """The OTLP logs request storing ``doc``'s events (see the module docstring for the checks)."""
    service = _text(doc, "service", "", 128, required=True)
    env = _text(doc, "env", "", 64)
    common = _page_attributes(doc, user_agent)
    ids = _trace_ids(doc)
    events = _events(doc)
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    for k, v in {"service.name": service, "deployment.environment.name": env, **SDK}.items():
        if v:
            _kv(rl.resource.attributes, k, v)
    sl = rl.scope_logs.add()
    sl.scope.name = "vigil-rum"
    for i, ev in enumerate(events):
        path = f"events[{i}]."
        if not isinstance(ev, dict):
            raise BeaconError(f"events[{i}]", "must be an object")
        rec = sl.log_records.add()
        t = _number(ev, "t", path, now_ms - MAX_AGE_MS, now_ms + MAX_SKEW_MS, required=False)
        rec.time_unix_nano = int(t if t is not None else now_ms) * 1_000_000
        rec.observed_time_unix_nano = now_ms * 1_000_000
        if ids is not None:
            rec.trace_id, rec.span_id = ids
        for k, v in common.items():
            if v:
                _kv(rec.attributes, k, v)
        kind = ev.get("type")
        if kind == "vital":
            _vital(ev, path, rec)
        elif kind == "error":
            _error(ev, path, rec)
        else:
            raise BeaconError(f"{path}type", "must be vital or error")
    return req


def _vital(ev: dict[str, Any], path: str, rec: logs_pb2.LogRecord) -> None:
    name = _text(ev, "name", path, 8, required=True)
    if name not in THRESHOLDS:
        raise BeaconError(f"{path}name", f"must be one of {', '.join(THRESHOLDS)}")
    value = _number(ev, "value", path, 0.0, _MAX_VALUE.get(name, 86_400_000.0))
    assert value is not None
    delta = _number(ev, "delta", path, -86_400_000.0, 86_400_000.0, required=False)
    rec.event_name = EVENT_VITAL
    rec.severity_number, rec.severity_text = logs_pb2.SEVERITY_NUMBER_INFO, "INFO"
    rec.body.CopyFrom(common_pb2.AnyValue(string_value=name))
    _kv(rec.attributes, ATTR.VITAL, name)
    _kv(rec.attributes, ATTR.VALUE, value)
    _kv(rec.attributes, ATTR.RATING, rating(name, value))
    if delta is not None:
        _kv(rec.attributes, ATTR.DELTA, delta)
    vid = _text(ev, "id", path, 128)
    if vid:
        _kv(rec.attributes, ATTR.ID, vid)
    for k, v in _attribution(ev.get("attribution"), f"{path}attribution").items():
        _kv(rec.attributes, ATTR.ATTRIBUTION_PREFIX + k, v)


def _error(ev: dict[str, Any], path: str, rec: logs_pb2.LogRecord) -> None:
    message = _text(ev, "message", path, 4096, required=True)
    rec.event_name = EVENT_ERROR
    rec.severity_number, rec.severity_text = logs_pb2.SEVERITY_NUMBER_ERROR, "ERROR"
    rec.body.CopyFrom(common_pb2.AnyValue(string_value=message))
    _kv(rec.attributes, "exception.type", _text(ev, "errorType", path, 128) or "Error")
    _kv(rec.attributes, "exception.message", message)
    stack = _text(ev, "stack", path, 16_384)
    if stack:
        _kv(rec.attributes, "exception.stacktrace", stack)
    _kv(rec.attributes, ATTR.ERROR_KIND, _choice(ev, "kind", path, ("error", "unhandledrejection")) or "error")
