"""SQL expressions that turn staged OTLP tuples into ``clickhouseexporter`` column values.

All functions return SQL text. Attribute values follow the exporter's ``pcommon.Value.AsString``
convention: strings as-is, ints/doubles in decimal, bools ``true``/``false``, bytes base64, arrays
and maps as JSON. Ids become lowercase hex, timestamps ``DateTime64(9)``.
"""

from __future__ import annotations


def te(expr: str, name: str) -> str:
    """``tupleElement`` by name (``a.b`` is ambiguous inside lambdas)."""
    return f"tupleElement({expr}, '{name}')"


def _scalar_cases(v: str, json: bool) -> str:
    s = te(v, "string_value")
    b = f"base64Encode({te(v, 'bytes_value')})"
    if json:
        s, b = f"toJSONString({s})", f"toJSONString({b})"
    return (
        f"{te(v, 'value')} = 'string_value', {s}, "
        f"{te(v, 'value')} = 'int_value', toString({te(v, 'int_value')}), "
        f"{te(v, 'value')} = 'double_value', toString({te(v, 'double_value')}), "
        f"{te(v, 'value')} = 'bool_value', if({te(v, 'bool_value')}, 'true', 'false'), "
        f"{te(v, 'value')} = 'bytes_value', {b}"
    )


def leaf_json(v: str) -> str:
    """JSON text of a scalar ``AnyLeaf`` (``null`` when empty)."""
    return f"multiIf({_scalar_cases(v, json=True)}, 'null')"


def any_str(v: str) -> str:
    """Exporter string form of an ``AnyValue`` tuple expression ``v``."""
    arr = te(te(v, "array_value"), "values")
    kvs = te(te(v, "kvlist_value"), "values")
    arr_json = f"concat('[', arrayStringConcat(arrayMap(y -> {leaf_json('y')}, {arr}), ','), ']')"
    kv_json = (
        "concat('{', arrayStringConcat(arrayMap(y -> concat(toJSONString(tupleElement(y, 'key')), ':', "
        f"{leaf_json(te('y', 'value'))}), {kvs}), ','), '}}')"
    )
    return (
        f"multiIf({_scalar_cases(v, json=False)}, "
        f"{te(v, 'value')} = 'array_value', {arr_json}, "
        f"{te(v, 'value')} = 'kvlist_value', {kv_json}, '')"
    )


def attrs_map(kvs: str) -> str:
    """``Map(String, String)`` from an ``Array(KeyValue)`` expression."""
    return (
        f"CAST((arrayMap(x -> tupleElement(x, 'key'), {kvs}), "
        f"arrayMap(x -> {any_str(te('x', 'value'))}, {kvs})), 'Map(String, String)')"
    )


def hex_id(expr: str) -> str:
    return f"lower(hex({expr}))"


def ns_time(expr: str) -> str:
    """``DateTime64(9)`` from a ``UInt64`` unix-nanosecond expression."""
    return f"fromUnixTimestamp64Nano(toInt64({expr}))"


SPAN_KIND = (
    "['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer']"
)
STATUS_CODE = "['Unset', 'Ok', 'Error']"


def enum_name(names: str, expr: str, default: str) -> str:
    """Name of an enum value by index (``names`` is a 0-based SQL array literal)."""
    return f"if({expr} >= 0 AND {expr} < length({names}), {names}[{expr} + 1], '{default}')"
