"""SQL expressions that turn staged OTLP tuples into ``clickhouseexporter`` column values.

All functions return SQL text. Attribute values follow the exporter's ``pcommon.Value.AsString``
convention: strings as-is, ints/doubles in decimal, bools ``true``/``false``, bytes base64, arrays
and maps as JSON. Ids become lowercase hex, timestamps ``DateTime64(9)``.
"""

from __future__ import annotations


def te(expr: str, name: str) -> str:
    """``tupleElement`` by name (``a.b`` is ambiguous inside lambdas)."""
    return f"tupleElement({expr}, '{name}')"


def _leaf(v: str, json: bool) -> str:
    """String (or JSON) form of a scalar value, chosen by indexing with the oneof tag (the field
    number: 1 string, 2 bool, 3 int, 4 double, 7 bytes; 0 = unset). Indexing keeps the expression
    small: ClickHouse analyses an insert's materialized view on every INSERT, so expression size is
    a per-batch fixed cost."""
    s = te(v, "string_value")
    b = f"base64Encode({te(v, 'bytes_value')})"
    empty = "'null'" if json else "''"
    if json:
        s, b = f"toJSONString({s})", f"toJSONString({b})"
    return (
        f"[{empty}, {s}, if({te(v, 'bool_value')}, 'true', 'false'), toString({te(v, 'int_value')}), "
        f"toString({te(v, 'double_value')}), {empty}, {empty}, {b}][toUInt8({te(v, 'value')}) + 1]"
    )


def leaf_json(v: str) -> str:
    """JSON text of a scalar ``AnyLeaf`` (``null`` when empty)."""
    return _leaf(v, json=True)


def any_str(v: str) -> str:
    """Exporter string form of an ``AnyValue`` tuple expression ``v``."""
    arr = te(te(v, "array_value"), "values")
    kvs = te(te(v, "kvlist_value"), "values")
    tag = f"toUInt8({te(v, 'value')})"
    arr_json = f"concat('[', arrayStringConcat(arrayMap(y -> {leaf_json('y')}, {arr}), ','), ']')"
    kv_json = (
        "concat('{', arrayStringConcat(arrayMap(y -> concat(toJSONString(tupleElement(y, 'key')), ':', "
        f"{leaf_json(te('y', 'value'))}), {kvs}), ','), '}}')"
    )
    return f"multiIf({tag} = 5, {arr_json}, {tag} = 6, {kv_json}, {_leaf(v, json=False)})"


def attrs_map(kvs: str) -> str:
    """``Map(String, String)`` from an ``Array(KeyValue)`` expression."""
    return (
        f"mapFromArrays(arrayMap(x -> tupleElement(x, 'key'), {kvs}), "
        f"arrayMap(x -> {any_str(te('x', 'value'))}, {kvs}))"
    )


def nested_attrs(own: str, nested: list[tuple[str, str]]) -> tuple[str, list[str], str]:
    """Convert several attribute lists of one row with a single ``any_str`` instance.

    ``own`` is an ``Array(KeyValue)`` expression; ``nested`` holds ``(items, field)`` pairs where
    ``items`` is an array of tuples each carrying an ``Array(KeyValue)`` named ``field`` (span
    events, links). Returns ``(with_clause, [map per nested item list], own_map)``: the ``WITH``
    aliases ``_k``/``_v`` (all keys / string values, own attributes first, then each nested item's in
    order) and expressions slicing them back into maps. Needs unique alias names per query.
    """
    parts = [own] + [f"arrayFlatten(arrayMap(z -> tupleElement(z, '{fld}'), {items}))" for items, fld in nested]
    all_kvs = f"arrayConcat({', '.join(parts)})"
    with_clause = (
        f"{all_kvs} AS _kvs, arrayMap(x -> tupleElement(x, 'key'), _kvs) AS _k, "
        f"arrayMap(x -> {any_str(te('x', 'value'))}, _kvs) AS _v, length({own}) AS _n0"
    )
    maps = []
    base = "_n0"
    for i, (items, fld) in enumerate(nested):
        lens = f"arrayMap(z -> length(tupleElement(z, '{fld}')), {items})"
        with_clause += f", {lens} AS _len{i}, arrayCumSum(_len{i}) AS _end{i}"
        maps.append(
            f"arrayMap((n, e) -> mapFromArrays(arraySlice(_k, {base} + e - n + 1, n), "
            f"arraySlice(_v, {base} + e - n + 1, n)), _len{i}, _end{i})"
        )
        base = f"({base} + arraySum(_len{i}))"
    own_map = "mapFromArrays(arraySlice(_k, 1, _n0), arraySlice(_v, 1, _n0))"
    return with_clause, maps, own_map


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
