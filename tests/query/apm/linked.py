"""Run a span-linker round (``storage.clickhouse.linker``) so that what a test inserted is linked."""

from __future__ import annotations

import time

from clickhouse_connect.driver.client import Client

from storage.clickhouse import linker


def link(ch: Client) -> int:
    """One linker round over the store as of now; the unix ns it read the store at."""
    now = time.time_ns()
    linker.link_round(ch, now)
    return now // 1_000_000_000 * 1_000_000_000
