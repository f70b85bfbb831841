"""receiver.decode: media types, bounded decompression, OTLP/JSON and protobuf parsing."""

from __future__ import annotations

import copy
import gzip
import json
import tracemalloc
import zlib
from typing import Any

import pytest

from receiver import decode
from receiver.decode import DecodeError, TooLarge, UnsupportedMedia
from receiver.signals import BY_NAME, LOGS, METRICS, TRACES
from tests.receiver import dumps, example_bytes

MiB = 1 << 20


# ---------------------------------------------------------------------------------------- media_type
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("application/x-protobuf", decode.PROTOBUF),
        ("application/protobuf", decode.PROTOBUF),
        ("Application/X-Protobuf", decode.PROTOBUF),
        ("application/json", decode.JSON),
        ("application/json; charset=utf-8", decode.JSON),
        ("  APPLICATION/JSON ;charset=UTF-8", decode.JSON),
    ],
)
def test_media_type_known(header: str, expected: str) -> None:
    assert decode.media_type(header) == expected


@pytest.mark.parametrize("header", [None, "", "text/plain", "application/grpc", "application/jsonl", "json"])
def test_media_type_unknown_is_unsupported(header: str | None) -> None:
    with pytest.raises(UnsupportedMedia):
        decode.media_type(header)


# ---------------------------------------------------------------------------------------- decompress
@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """200 MiB of zeros, gzip-compressed (~200 KB), built chunk by chunk (never 200 MiB in memory)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MiB)
    parts = [c.compress(zeros) for _ in range(200)]
    parts.append(c.flush())
    return b"".join(parts)


def test_identity_passes_through() -> None:
    body = b"\x0a\x00" * 10
    for enc in (None, "", "identity", "Identity"):
        assert decode.decompress(body, enc, 100) == body


def test_identity_limit_is_inclusive() -> None:
    assert decode.decompress(b"x" * 100, None, 100) == b"x" * 100
    with pytest.raises(TooLarge):
        decode.decompress(b"x" * 101, None, 100)
    with pytest.raises(TooLarge):
        decode.decompress(b"x" * 101, "identity", 100)


def test_gzip_roundtrip() -> None:
    data = bytes(range(256)) * 400
    assert decode.decompress(gzip.compress(data), "gzip", len(data)) == data
    assert decode.decompress(gzip.compress(data), " GZIP ", len(data)) == data


def test_deflate_roundtrip() -> None:
    data = b"otlp" * 5000
    assert decode.decompress(zlib.compress(data), "deflate", len(data)) == data


def test_gzip_limit_boundary() -> None:
    data = b"a" * 1000
    assert decode.decompress(gzip.compress(data), "gzip", 1000) == data
    with pytest.raises(TooLarge):
        decode.decompress(gzip.compress(data), "gzip", 999)


def test_gzip_bomb_is_refused_without_inflating_it(gzip_bomb: bytes) -> None:
    limit = MiB
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge):
            decode.decompress(gzip_bomb, "gzip", limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 200 MiB would be inflated by a naive decoder; a bounded one stays near the limit.
    assert peak < 16 * limit, f"decompression peaked at {peak} bytes"


def test_truncated_gzip_is_a_decode_error() -> None:
    body = gzip.compress(bytes(range(256)) * 100)
    with pytest.raises(DecodeError):
        decode.decompress(body[: len(body) // 2], "gzip", MiB)
    with pytest.raises(DecodeError):
        decode.decompress(body[:-4], "gzip", MiB)  # missing the ISIZE trailer


def test_empty_gzip_body_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        decode.decompress(b"", "gzip", MiB)


def test_corrupt_gzip_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        decode.decompress(b"\x1f\x8b\x08\x00" + b"\xff" * 64, "gzip", MiB)
    with pytest.raises(DecodeError):
        decode.decompress(b"this is not gzip at all", "gzip", MiB)


def test_multi_member_gzip_is_not_silently_truncated() -> None:
    """RFC 1952 allows concatenated members (pigz, some proxies); dropping all but the first loses data."""
    first, second = b"A" * 100, b"B" * 100
    body = gzip.compress(first) + gzip.compress(second)
    try:
        out = decode.decompress(body, "gzip", MiB)
    except DecodeError:
        return  # refusing the body outright is acceptable; acknowledging half of it is not
    assert out == first + second


@pytest.mark.parametrize("encoding", ["br", "zstd", "snappy", "compress", "gzip, br"])
def test_unknown_encoding_is_unsupported(encoding: str) -> None:
    with pytest.raises(UnsupportedMedia):
        decode.decompress(b"whatever", encoding, MiB)


# ---------------------------------------------------------------------------------------- parse_json
def test_official_trace_example() -> None:
    req: Any = decode.parse_json(TRACES.request, example_bytes("traces"))
    span = req.resource_spans[0].scope_spans[0].spans[0]
    # The example spells ids in UPPERCASE hex.
    assert span.trace_id == bytes.fromhex("5b8efff798038103d269b633813fc60c")
    assert span.span_id == bytes.fromhex("eee19b7ec3c1b174")
    assert span.parent_span_id == bytes.fromhex("eee19b7ec3c1b173")
    assert span.start_time_unix_nano == 1544712660000000000
    assert span.end_time_unix_nano == 1544712661000000000
    assert span.kind == 2  # enum given as an int
    assert span.name == "I'm a server span"
    assert req.resource_spans[0].resource.attributes[0].value.string_value == "my.service"


def test_official_logs_example() -> None:
    req: Any = decode.parse_json(LOGS.request, example_bytes("logs"))
    rec = req.resource_logs[0].scope_logs[0].log_records[0]
    assert rec.trace_id == bytes.fromhex("5b8efff798038103d269b633813fc60c")
    assert rec.span_id == bytes.fromhex("eee19b7ec3c1b174")
    assert rec.severity_number == 10
    assert rec.body.string_value == "Example log record"
    attrs = {kv.key: kv.value for kv in rec.attributes}
    assert attrs["int.attribute"].int_value == 10  # int64 as a JSON string
    assert attrs["boolean.attribute"].bool_value is True


def test_official_metrics_example() -> None:
    req: Any = decode.parse_json(METRICS.request, example_bytes("metrics"))
    metrics = {m.name: m for m in req.resource_metrics[0].scope_metrics[0].metrics}
    assert metrics["my.counter"].sum.data_points[0].as_double == 5
    assert metrics["my.counter"].sum.aggregation_temporality == 1
    hist = metrics["my.histogram"].histogram.data_points[0]
    assert (hist.count, list(hist.bucket_counts), list(hist.explicit_bounds)) == (2, [1, 1], [1.0])
    exp = metrics["my.exponential.histogram"].exponential_histogram.data_points[0]
    assert (exp.zero_count, exp.positive.offset, list(exp.positive.bucket_counts)) == (1, 1, [0, 2])


def _span_doc(**span: Any) -> dict[str, Any]:
    return {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}


def _one_span(doc: dict[str, Any]) -> Any:
    req: Any = decode.parse_json(TRACES.request, dumps(doc))
    return req.resource_spans[0].scope_spans[0].spans[0]


def test_lowercase_and_uppercase_hex_ids_agree() -> None:
    lower = _one_span(_span_doc(traceId="5b8efff798038103d269b633813fc60c", spanId="eee19b7ec3c1b174"))
    upper = _one_span(_span_doc(traceId="5B8EFFF798038103D269B633813FC60C", spanId="EEE19B7EC3C1B174"))
    assert lower.trace_id == upper.trace_id == bytes.fromhex("5b8efff798038103d269b633813fc60c")
    assert lower.span_id == upper.span_id


def test_int64_as_string_or_number() -> None:
    ns = 1544712660000000123  # > 2**53: must not go through a float
    as_str = _one_span(_span_doc(startTimeUnixNano=str(ns), endTimeUnixNano=str(ns + 1)))
    as_num = _one_span(_span_doc(startTimeUnixNano=ns, endTimeUnixNano=ns + 1))
    assert as_str.start_time_unix_nano == as_num.start_time_unix_nano == ns
    assert as_str.end_time_unix_nano == as_num.end_time_unix_nano == ns + 1


def test_enums_as_ints_or_names() -> None:
    by_int = _one_span(_span_doc(kind=3, status={"code": 2}))
    by_name = _one_span(_span_doc(kind="SPAN_KIND_CLIENT", status={"code": "STATUS_CODE_ERROR"}))
    assert by_int.kind == by_name.kind == 3
    assert by_int.status.code == by_name.status.code == 2


def test_unknown_fields_are_ignored() -> None:
    doc = json.loads(example_bytes("traces"))
    doc["someFutureField"] = {"x": 1}
    doc["resourceSpans"][0]["unknownResourceThing"] = [1, 2, 3]
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["brandNewSpanField"] = "v"
    with_unknown = decode.parse_json(TRACES.request, dumps(doc))
    plain = decode.parse_json(TRACES.request, example_bytes("traces"))
    assert with_unknown == plain


def test_ids_in_links_logs_and_exemplars_are_hex() -> None:
    tid, sid = "0102030405060708090a0b0c0d0e0f10", "a1a2a3a4a5a6a7a8"
    span = _one_span(_span_doc(links=[{"traceId": tid, "spanId": sid}]))
    assert span.links[0].trace_id == bytes.fromhex(tid)
    assert span.links[0].span_id == bytes.fromhex(sid)
    metrics_doc = {
        "resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "g", "gauge": {"dataPoints": [
            {"asInt": "1", "timeUnixNano": "1", "exemplars": [{"traceId": tid, "spanId": sid, "asDouble": 1}]}
        ]}}]}]}]
    }
    req: Any = decode.parse_json(METRICS.request, dumps(metrics_doc))
    ex = req.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0].exemplars[0]
    assert (ex.trace_id, ex.span_id) == (bytes.fromhex(tid), bytes.fromhex(sid))


def test_short_hex_id_is_decoded_not_refused() -> None:
    """Length is validate's business (counted in partial_success), not the decoder's."""
    span = _one_span(_span_doc(traceId="0102030405"))
    assert span.trace_id == b"\x01\x02\x03\x04\x05"


@pytest.mark.parametrize(
    "bad_id",
    [
        "zz8efff798038103d269b633813fc60c",  # not hex
        "5b8efff798038103d269b633813fc60",  # odd length
        "W4lv95gDgQPSabYzgT/GDA==",  # base64 (proto3 JSON) instead of OTLP hex
    ],
)
def test_invalid_hex_id_is_a_decode_error(bad_id: str) -> None:
    with pytest.raises(DecodeError, match="traceId"):
        decode.parse_json(TRACES.request, dumps(_span_doc(traceId=bad_id)))


@pytest.mark.parametrize("body", [b"[]", b'"resourceSpans"', b"42", b"null", b"true"])
def test_non_object_json_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(DecodeError):
        decode.parse_json(TRACES.request, body)


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"\xff\xfe{}",
        b'{"resourceSpans": 5}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": {"not": "a string"}}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": 1234}]}]}]}',
    ],
)
def test_malformed_json_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(DecodeError):
        decode.parse_json(TRACES.request, body)


def test_deeply_nested_json_is_a_decode_error() -> None:
    deep = "[" * 200 + "]" * 200
    with pytest.raises(DecodeError):
        decode.parse_json(TRACES.request, f'{{"x": {deep}}}'.encode())
    very_deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(DecodeError):
        decode.parse_json(TRACES.request, f'{{"x": {very_deep}}}'.encode())


def test_parse_json_does_not_depend_on_key_order_or_mutate_callers_data() -> None:
    doc = json.loads(example_bytes("logs"))
    before = copy.deepcopy(doc)
    a = decode.parse_json(LOGS.request, dumps(doc))
    assert doc == before
    assert a == decode.parse_json(LOGS.request, example_bytes("logs"))


# ---------------------------------------------------------------------------------------- protobuf
@pytest.mark.parametrize("signal", ["traces", "logs", "metrics"])
def test_parse_protobuf_roundtrip(signal: str) -> None:
    cls = BY_NAME[signal].request
    msg = decode.parse_json(cls, example_bytes(signal))
    assert decode.parse_protobuf(cls, msg.SerializeToString()) == msg


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xff\xff\xff\xff",  # invalid tag/varint
        b"\x0a\x05abc",  # length-delimited field longer than the body
        b"\x0f",  # wire type 7 does not exist
        b"\x0a\x02\x0a\xff",  # nested message truncated
    ],
)
@pytest.mark.parametrize("signal", ["traces", "logs", "metrics"])
def test_parse_protobuf_garbage_is_a_decode_error(signal: str, garbage: bytes) -> None:
    with pytest.raises(DecodeError):
        decode.parse_protobuf(BY_NAME[signal].request, garbage)


def test_to_json_is_camel_case_json() -> None:
    resp = TRACES.response()
    resp.partial_success.rejected_spans = 3
    resp.partial_success.error_message = "nope"
    doc = json.loads(decode.to_json(resp))
    assert int(doc["partialSuccess"]["rejectedSpans"]) == 3
    assert doc["partialSuccess"]["errorMessage"] == "nope"
