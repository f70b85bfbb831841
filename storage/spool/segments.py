"""An append-only, checksummed on-disk log of OTLP request payloads for one signal.

Layout: ``<dir>/<epoch>-<seq>.seg`` files, ``epoch`` (20 digits) fixed per :class:`SegmentLog` instance
(its creation time in ns, so names and insert-deduplication tokens never repeat across restarts) and
``seq`` (10 digits) increasing. Each record is ``<u32 length><u32 rows><u32 crc><payload>``
(little-endian; ``rows`` is the request's record count, ``crc`` the CRC-32 of the payload seeded with
``rows``).

Contract:

* :meth:`SegmentLog.append` writes whole records to the open segment and, with ``fsync`` on, syncs
  them; on any ``OSError`` (disk full…) the file is truncated back to where it was, so a failed append
  leaves nothing behind and the caller answers its requests as not accepted.
* :meth:`SegmentLog.seal` closes the open segment; the caller then owns it (reads it with
  :func:`read_segment`, deletes it with :func:`remove` once stored). Segments found on disk at
  start-up — including the one a crashed process had open — are listed in ``recovered``.
* :func:`read_segment` returns the records in order. A torn or corrupt record can only be the tail of a
  segment whose writer died mid-append (its request was never acknowledged): reading stops there and
  the damage is reported in :class:`SegmentData`.
* Thread-safety: a :class:`SegmentLog` belongs to one thread (the spool writer's appender).
"""

from __future__ import annotations

import logging
import os
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

HEADER = struct.Struct("<III")
SUFFIX = ".seg"


@dataclass(frozen=True)
class Record:
    rows: int
    payload: bytes


@dataclass(frozen=True)
class SegmentData:
    path: Path
    records: list[Record]
    damaged_bytes: int = 0
    """Bytes after the last intact record (a torn tail); 0 for a clean segment."""

    @property
    def name(self) -> str:
        return self.path.stem


def frame(record: Record) -> bytes:
    return HEADER.pack(len(record.payload), record.rows, zlib.crc32(record.payload, record.rows)) + record.payload


def read_segment(path: Path) -> SegmentData:
    data = path.read_bytes()
    records: list[Record] = []
    pos, end = 0, len(data)
    while pos + HEADER.size <= end:
        size, rows, crc = HEADER.unpack_from(data, pos)
        start = pos + HEADER.size
        if start + size > end:
            break
        payload = data[start:start + size]
        if zlib.crc32(payload, rows) != crc:
            break
        records.append(Record(rows, payload))
        pos = start + size
    return SegmentData(path, records, end - pos)


def _key(path: Path) -> tuple[int, int]:
    epoch, seq = path.stem.split("-")
    return int(epoch), int(seq)


class SegmentLog:
    def __init__(self, directory: Path, fsync: bool = True) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self.epoch = time.time_ns()
        self._seq = 0
        self._path: Path | None = None
        self._fd: int | None = None
        self._size = 0
        self.recovered: list[Path] = sorted((p for p in self.dir.glob(f"*{SUFFIX}") if _valid_name(p)), key=_key)
        """Segments found at start-up (sealed, oldest first)."""

    @property
    def open_path(self) -> Path | None:
        return self._path

    def append(self, records: list[Record]) -> int:
        """Append every record, or none of them (raises ``OSError``); return the bytes written."""
        data = b"".join(frame(r) for r in records)
        if self._fd is None:
            self._seq += 1
            path = self.dir / f"{self.epoch:020d}-{self._seq:010d}{SUFFIX}"
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
            self._path, self._size = path, 0
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            if self._fsync:
                os.fsync(self._fd)
        except OSError:
            try:
                os.ftruncate(self._fd, self._size)
            except OSError as exc:  # the segment may now hold a torn record: read_segment stops there
                log.error("could not truncate %s after a failed append: %s", self._path, exc)
            raise
        self._size += len(data)
        return len(data)

    def seal(self) -> Path | None:
        """Close the open segment (records are already synced by ``append``); return it, or None."""
        if self._fd is None:
            return None
        os.close(self._fd)
        path, self._path, self._fd = self._path, None, None
        return path

    def close(self) -> None:
        self.seal()


def remove(path: Path) -> int:
    """Delete a stored segment; return the bytes it held."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    path.unlink(missing_ok=True)
    return size


def _valid_name(path: Path) -> bool:
    try:
        _key(path)
    except ValueError:
        log.warning("ignoring unexpected file %s in the spool", path)
        return False
    return True
