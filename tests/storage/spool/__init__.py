
from typing import Any


def spool_defaults() -> dict[str, Any]:
    """The writer's settings as ``vigil serve`` defaults them (the one place defaults live)."""
    from vigil.config import DEFAULTS

    spool = DEFAULTS.spool
    return {"flatten_max_rows": spool.flatten_max_rows, "flatten_max_bytes": spool.flatten_max_bytes,
            "flatten_linger_ms": spool.flatten_linger_ms, "fsync": spool.fsync,
            "max_inflight_bytes": spool.max_inflight_bytes, "spool_max_bytes": spool.max_bytes}
