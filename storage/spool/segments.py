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
* :class:`SegmentReader` streams the records in order (:func:`read_segment` lists them). A torn or
  corrupt record can only be the tail of a segment whose writer died mid-append (its request was never
  acknowledged): reading stops there and the damage is reported (``damaged_bytes``).
* Thread-safety: a :class:`SegmentLog` belongs to one thread (the spool writer's appender).
"""

from __future__ import annotations

import logging
import os
import struct
import time
import zlib
from collections.abc import Iterator
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


class SegmentReader:
    """Streams the records of a sealed segment (one record in memory at a time). After iteration,
    ``damaged_bytes`` holds the size of a torn or corrupt tail (0 for a clean segment)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.damaged_bytes = 0

    def __iter__(self) -> Iterator[Record]:
        size = self.path.stat().st_size
        pos = 0
        with self.path.open("rb") as f:
            while pos + HEADER.size <= size:
                length, rows, crc = HEADER.unpack(f.read(HEADER.size))
                if pos + HEADER.size + length > size:
                    break
                payload = f.read(length)
                if len(payload) != length or zlib.crc32(payload, rows) != crc:
                    break
                pos += HEADER.size + length
                yield Record(rows, payload)
        self.damaged_bytes = size - pos


def read_segment(path: Path) -> SegmentData:
    reader = SegmentReader(path)
    records = list(reader)
    return SegmentData(path, records, reader.damaged_bytes)


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
