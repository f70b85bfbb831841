"""Body bytes → OTLP request message, for protobuf and OTLP/JSON, with bounded decompression.

Contract: every function raises :class:`DecodeError` (→ HTTP 400 / INVALID_ARGUMENT) for a malformed
body, :class:`TooLarge` (→ 413 / RESOURCE_EXHAUSTED) when the decompressed size exceeds the limit,
and :class:`UnsupportedMedia` (→ 415) for an unknown content type or encoding. Nothing else escapes.
OTLP/JSON rules: trace/span ids are hex (not base64), enums may be ints, int64 may be strings or
numbers, unknown fields are ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError as PbDecodeError
from google.protobuf.message import Message

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


class DecodeError(ValueError):
    """The body is not a valid OTLP request."""


class TooLarge(ValueError):
    """The (decompressed) body exceeds the configured limit."""


class UnsupportedMedia(ValueError):
    """Unknown Content-Type or Content-Encoding."""


def media_type(content_type: str | None) -> str:
    """Normalise a Content-Type header to ``PROTOBUF`` or ``JSON``; raise :class:`UnsupportedMedia`."""
    mt = (content_type or "").split(";", 1)[0].strip().lower()
    if mt in (PROTOBUF, "application/protobuf"):
        return PROTOBUF
    if mt == JSON:
        return JSON
    raise UnsupportedMedia(f"unsupported content type {content_type!r}; use {PROTOBUF} or {JSON}")


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo ``Content-Encoding`` (identity, gzip, deflate) streaming, never producing > ``limit`` bytes.

    Concatenated gzip members are all decoded (RFC 1952); trailing bytes after a deflate stream are
    ignored.

    Args:
        body: The body as received.
        encoding: The ``Content-Encoding`` header; None or ``""`` means identity.
        limit: Maximum decompressed size in bytes.

    Returns:
        The decompressed body.

    Raises:
        TooLarge: The decompressed body would exceed ``limit`` bytes.
        UnsupportedMedia: ``encoding`` is not identity, gzip or deflate.
        DecodeError: The compressed stream is corrupt or truncated.
    """
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        if len(body) > limit:
            raise TooLarge(f"request body of {len(body)} bytes exceeds the limit of {limit} bytes")
        return body
    if enc not in ("gzip", "deflate"):
        raise UnsupportedMedia(f"unsupported content encoding {encoding!r}; use gzip or identity")
    wbits = 16 + zlib.MAX_WBITS if enc == "gzip" else zlib.MAX_WBITS
    out = bytearray()
    data = body
    try:
        while True:  # one iteration per gzip member (RFC 1952 allows concatenated members)
            d = zlib.decompressobj(wbits)
            while data and not d.eof:
                out += d.decompress(data, limit + 1 - len(out))
                if len(out) > limit:
                    raise TooLarge(f"decompressed request exceeds the limit of {limit} bytes")
                data = d.unconsumed_tail
            if not d.eof:
                raise DecodeError(f"truncated {enc} body")
            data = d.unused_data
            if enc != "gzip" or not data:
                break
    except zlib.error as exc:
        raise DecodeError(f"invalid {enc} body: {exc}") from exc
    return bytes(out)


def parse_protobuf(cls: type[Message], data: bytes) -> Message:
    """Decode binary protobuf ``data`` as a ``cls`` message (unknown fields are kept until discarded).

    Args:
        cls: The generated OTLP request class, e.g. ``ExportTraceServiceRequest``.
        data: The already decompressed body.

    Returns:
        A new ``cls`` instance.

    Raises:
        DecodeError: ``data`` is not a valid encoding of ``cls``.
    """
    try:
        return cls.FromString(data)
    except (PbDecodeError, RuntimeError, ValueError) as exc:
        raise DecodeError(f"invalid protobuf {cls.DESCRIPTOR.name}: {exc}") from exc


def _hex_ids_to_base64(node: Any, depth: int = 0) -> None:
    """Rewrite, in place, every hex trace/span id string in a parsed OTLP/JSON tree as base64.

    ``json_format`` expects ``bytes`` fields in base64 while OTLP/JSON sends ids in hex. Raises
    :class:`DecodeError` for a non-hex id or nesting deeper than 64 levels.
    """
    if depth > 64:
        raise DecodeError("JSON nesting too deep")
    if isinstance(node, dict):
        for k, v in node.items():
            if k in _ID_KEYS and isinstance(v, str):
                try:
                    node[k] = base64.b64encode(bytes.fromhex(v)).decode()
                except ValueError as exc:
                    raise DecodeError(f"{k}: {v[:64]!r} is not hex") from exc
            elif isinstance(v, dict | list):
                _hex_ids_to_base64(v, depth + 1)
    elif isinstance(node, list):
        for v in node:
            if isinstance(v, dict | list):
                _hex_ids_to_base64(v, depth + 1)


def parse_json(cls: type[Message], data: bytes) -> Message:
    """Decode OTLP/JSON ``data`` as a ``cls`` message.

    Ids are hex (converted before parsing), enums may be names or ints, 64-bit integers may be
    strings or numbers, unknown fields are ignored, and nesting is limited to 64 levels.

    Args:
        cls: The generated OTLP request class, e.g. ``ExportTraceServiceRequest``.
        data: The already decompressed body (UTF-8 JSON).

    Returns:
        A new ``cls`` instance.

    Raises:
        DecodeError: ``data`` is not UTF-8 JSON, not a JSON object, has a non-hex id, is nested
            too deeply, or does not match the ``cls`` schema.
    """
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DecodeError(f"invalid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise DecodeError("OTLP/JSON body must be an object")
    _hex_ids_to_base64(doc)
    try:
        return json_format.ParseDict(doc, cls(), ignore_unknown_fields=True, max_recursion_depth=64)
    except (json_format.ParseError, binascii.Error, RecursionError, ValueError, TypeError, OverflowError) as exc:
        raise DecodeError(f"invalid OTLP/JSON {cls.DESCRIPTOR.name}: {exc}") from exc


def to_json(msg: Message) -> bytes:
    """OTLP/JSON encoding of a response/status message (camelCase, ints as JSON numbers)."""
    return json.dumps(json_format.MessageToDict(msg)).encode()
