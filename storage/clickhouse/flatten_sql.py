"""SQL expressions that turn staged OTLP tuples into ``clickhouseexporter`` column values.

All functions return SQL text. Attribute values follow the exporter's ``pcommon.Value.AsString``
convention: strings as-is, ints/doubles in decimal, bools ``true``/``false``, bytes base64, arrays
and maps as JSON. Ids become lowercase hex, timestamps ``DateTime64(9)``.
"""

from __future__ import annotations

from storage.clickhouse.redaction import Redaction


def te(expr: str, name: str) -> str:
    """``tupleElement`` by name (``a.b`` is ambiguous inside lambdas)."""
    return f"tupleElement({expr}, '{name}')"


def _leaf(v: str, json: bool) -> str:
    """String (or JSON) form of a scalar value, chosen by indexing with the oneof tag.

    The tag is the field number: 1 string, 2 bool, 3 int, 4 double, 7 bytes; 0 = unset. Indexing
    keeps the expression small: ClickHouse analyses an insert's materialized view on every INSERT,
    so expression size is a per-batch fixed cost.
    """
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


def is_text(v: str) -> str:
    """SQL boolean: the ``AnyValue`` holds a string, an array or a map (bools and numbers do not)."""
    return f"toUInt8({te(v, 'value')}) IN (1, 5, 6)"


def attrs_map(kvs: str, r: Redaction) -> str:
    """``Map(String, String)`` from an ``Array(KeyValue)`` expression, redacted and limited."""
    limited = f"arraySlice({kvs}, 1, {int(r.max_attributes)})"
    keys = f"arrayMap(x -> tupleElement(x, 'key'), {limited})"
    raw = f"arrayMap(x -> {any_str(te('x', 'value'))}, {limited})"
    txt = f"arrayMap(x -> {is_text(te('x', 'value'))}, {limited})"
    return (
        f"mapFilter((k, v) -> {r.keep_key('k')}, mapFromArrays({keys}, "
        f"arrayMap((k, v, t) -> {r.value('k', 'v', 't')}, {keys}, {raw}, {txt})))"
    )


def row_attrs(
    flat: list[str], nested: list[tuple[str, str]], r: Redaction
) -> tuple[str, list[str], list[str]]:
    """Convert every attribute list of one row with a single ``any_str`` instance.

    ``flat`` holds ``Array(KeyValue)`` expressions (one map each, e.g. resource and span attributes);
    ``nested`` holds ``(items, field)`` pairs where ``items`` is an array of tuples each carrying an
    ``Array(KeyValue)`` named ``field`` (span events, links: one map per item). Returns
    ``(with_clause, flat_maps, nested_map_arrays)``: ``WITH`` aliases ``_k``/``_v`` (all keys and
    string values of the row, in that order) and expressions slicing them back into maps.
    ClickHouse analyses a materialized view's query on every INSERT and each ``any_str`` instance
    costs ~10 ms of that, so one instance per row is a fixed cost saved on every batch.
    """
    parts = flat + [f"arrayFlatten(arrayMap(z -> tupleElement(z, '{fld}'), {items}))" for items, fld in nested]
    with_clause = (
        f"arrayConcat({', '.join(parts)}) AS _kvs, arrayMap(x -> tupleElement(x, 'key'), _kvs) AS _k, "
        f"arrayMap(x -> {any_str(te('x', 'value'))}, _kvs) AS _raw, "
        f"arrayMap(x -> {is_text(te('x', 'value'))}, _kvs) AS _txt, "
        f"arrayMap((k, v, t) -> {r.value('k', 'v', 't')}, _k, _raw, _txt) AS _v"
    )
    cap = int(r.max_attributes)

    def as_map(start: str, n: str) -> str:
        keep = f"least({n}, {cap})"
        return (f"mapFilter((k, v) -> {r.keep_key('k')}, mapFromArrays(arraySlice(_k, {start}, {keep}), "
                f"arraySlice(_v, {start}, {keep})))")

    flat_maps = []
    base = "0"
    for i, kvs in enumerate(flat):
        with_clause += f", length({kvs}) AS _n{i}"
        flat_maps.append(as_map(f"{base} + 1", f"_n{i}"))
        base = f"{base} + _n{i}"
    nested_maps = []
    for i, (items, fld) in enumerate(nested):
        with_clause += (
            f", arrayMap(z -> length(tupleElement(z, '{fld}')), {items}) AS _len{i}, arrayCumSum(_len{i}) AS _end{i}"
        )
        nested_maps.append(f"arrayMap((n, e) -> {as_map(f'{base} + e - n + 1', 'n')}, _len{i}, _end{i})")
        base = f"{base} + arraySum(_len{i})"
    return with_clause, flat_maps, nested_maps


def hex_id(expr: str) -> str:
    """Lowercase hex of a ``bytes`` id expression ('' for an empty id), as the exporter stores ids."""
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
