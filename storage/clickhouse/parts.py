"""What the part guard knows about the store's parts: tables per signal, part rows, error codes, counters.

Shared by :mod:`storage.clickhouse.part_guard` and :mod:`storage.clickhouse.guarded`; nothing here
talks to the store.

Attributes:
    SIGNAL_TABLES: The MergeTree tables an INSERT of each signal writes (through the staging views).
    ALL_TABLES: Every table of ``SIGNAL_TABLES``.
    DAMAGE_ERROR_CODES: ClickHouse error codes a read of a damaged part fails with (worth a scan of the
        parts and one retry).
    PART_COLUMNS: The ``system.parts`` columns :meth:`Part.of` reads, in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from contracts.signals import Signal
from storage.clickhouse.ddl import METRIC_KINDS

SIGNAL_TABLES: dict[Signal, tuple[str, ...]] = {
    Signal.TRACES: ("otel_traces", "otel_traces_trace_id_ts"),
    Signal.LOGS: ("otel_logs",),
    Signal.METRICS: tuple(f"otel_metrics_{kind}" for kind in METRIC_KINDS),
}
ALL_TABLES: tuple[str, ...] = tuple(t for tables in SIGNAL_TABLES.values() for t in tables)

# CANNOT_PARSE_INPUT_ASSERTION_FAILED, ATTEMPT_TO_READ_AFTER_EOF, CANNOT_READ_ALL_DATA, CHECKSUM_DOESNT_MATCH,
# CANNOT_OPEN_FILE, FILE_DOESNT_EXIST, INCORRECT_DATA, CORRUPTED_DATA, CANNOT_DECOMPRESS, UNKNOWN_CODEC (seen: a
# merged part whose column file held garbage instead of nothing).
DAMAGE_ERROR_CODES = frozenset({27, 32, 33, 40, 76, 107, 117, 246, 271, 432})

PART_COLUMNS = "table, name, partition_id, min_block_number, max_block_number, level, data_version, path"


@dataclass(frozen=True)
class Part:
    """One row of ``system.parts`` (the columns of :data:`PART_COLUMNS`)."""

    table: str
    name: str
    partition_id: str
    min_block: int
    max_block: int
    level: int
    data_version: int
    path: str

    @classmethod
    def of(cls, row: Iterable[Any]) -> Part:
        """The part described by a ``SELECT PART_COLUMNS FROM system.parts`` row."""
        table, name, partition, low, high, level, version, path = row
        return cls(table, name, partition, int(low), int(high), int(level), int(version), path)

    @property
    def key(self) -> tuple[str, str]:
        """``(table, name)``: unique among a database's active parts."""
        return self.table, self.name

    @property
    def where(self) -> str:
        """``table/name``, as logs and health show it."""
        return f"{self.table}/{self.name}"

    def covers(self, other: Part) -> bool:
        """Whether ``other`` is one of the parts this one was merged or mutated from."""
        return (other.partition_id == self.partition_id and self.min_block <= other.min_block
                and other.max_block <= self.max_block and other.name != self.name
                and (other.level, other.data_version) <= (self.level, self.data_version))


@dataclass
class GuardStats:
    """Counters health reports; ``unrepaired`` holds the newest 20 ``table/part: why`` lines."""

    checked_parts: int = 0
    damaged_inserts: int = 0  # damaged inserted parts found (their data is re-sent from the spool)
    damaged_merges: int = 0  # damaged merged parts found
    merge_stops: int = 0  # times merges were stopped because a disk was nearly full
    unrepaired: list[str] = field(default_factory=list)
    last_error: str = ""


def quote(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
