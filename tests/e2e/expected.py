"""Independent statement of how Vigil renders OTLP values, used to check API output exactly.

Attribute values follow the clickhouseexporter convention: strings as-is, ints in decimal, bools
``true``/``false``, doubles in shortest decimal form, arrays/maps as compact JSON, bytes base64.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

KIND_NAMES = {0: "SPAN_KIND_UNSPECIFIED", 1: "SPAN_KIND_INTERNAL", 2: "SPAN_KIND_SERVER", 3: "SPAN_KIND_CLIENT",
              4: "SPAN_KIND_PRODUCER", 5: "SPAN_KIND_CONSUMER"}
STATUS_NAMES = {0: "STATUS_CODE_UNSET", 1: "STATUS_CODE_OK", 2: "STATUS_CODE_ERROR"}


def _scalar_json(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def attr_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, int | float):
        return repr(v) if isinstance(v, float) else str(v)
    if isinstance(v, Sequence):
        return "[" + ",".join(_scalar_json(x) for x in v) + "]"
    raise TypeError(type(v))


def attrs(m: Mapping[str, Any] | None) -> dict[str, str]:
    return {k: attr_str(v) for k, v in (m or {}).items()}


def hex_id(n: int, width: int) -> str:
    return format(n, f"0{width}x")
