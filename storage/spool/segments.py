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
  :class:`SegmentReader`, deletes it with :func:`remove` once stored). Segments found on disk at
  start-up — including the one a crashed process had open — are listed in ``recovered``.
* :class:`SegmentReader` streams the records in order. A torn or corrupt record can only be the tail
  of a segment whose writer died mid-append (its request was never acknowledged): reading stops there
  and the damage is reported (``damaged_bytes``). :func:`scan` counts requests and records from the
  headers alone (no checksums), cheaply.
* Thread-safety: a :class:`SegmentLog` belongs to one thread (the spool writer's appender); a sealed
  segment is read by one thread at a time (its flattener). Sizes are in bytes.
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
    """One spooled request: its record count and its serialized OTLP export request."""

    rows: int
    payload: bytes


def frame(record: Record) -> bytes:
    """The on-disk form of ``record`` (header and payload)."""
    return HEADER.pack(len(record.payload), record.rows, zlib.crc32(record.payload, record.rows)) + record.payload


class SegmentReader:
    """Streams the records of a sealed segment (one record in memory at a time).

    After iteration, ``damaged_bytes`` holds the size of a torn or corrupt tail (0 for a clean
    segment). Each iteration reads the file from the start again. Not thread-safe (one reader per
    thread).
    """

    def __init__(self, path: Path) -> None:
        """A reader of the segment at ``path`` (nothing is opened until iteration)."""
        self.path = path
        self.damaged_bytes = 0

    def __iter__(self) -> Iterator[Record]:
        """Yield the intact records in order; raises ``OSError`` when the file cannot be read."""
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


def scan(path: Path) -> tuple[int, int]:
    """Count the requests and records of a segment from its record headers (payloads are skipped).

    Checksums are not verified, so a corrupt (not torn) tail may be counted; reading it with
    :class:`SegmentReader` is what decides. Thread-safe (opens its own file).

    Args:
        path: A sealed segment.

    Returns:
        ``(requests, records)`` of the records whose header and payload fit in the file.

    Raises:
        OSError: The file cannot be read.
    """
    size = path.stat().st_size
    pos = requests = rows = 0
    with path.open("rb", buffering=0) as f:
        while pos + HEADER.size <= size:
            f.seek(pos)
            head = f.read(HEADER.size)
            if len(head) != HEADER.size:
                break
            length, n, _ = HEADER.unpack(head)
            if pos + HEADER.size + length > size:
                break
            pos += HEADER.size + length
            requests, rows = requests + 1, rows + n
    return requests, rows


def _key(path: Path) -> tuple[int, int]:
    """``(epoch, seq)`` of a segment name; raises ``ValueError`` for other names."""
    epoch, seq = path.stem.split("-")
    return int(epoch), int(seq)


class SegmentLog:
    """The segments of one signal: one open for appending, the rest sealed. Used by one thread only."""

    def __init__(self, directory: Path, fsync: bool = True) -> None:
        """Open (creating) ``directory`` and list the segments an earlier run left there."""
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
        """The open segment, or None when nothing was appended since the last seal."""
        return self._path

    def append(self, records: list[Record]) -> int:
        """Append every record, or none of them (raises ``OSError``); return the bytes written.

        With ``fsync`` on, the records are synced before this returns.
        """
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
            except OSError as exc:  # the segment may now hold a torn record: SegmentReader stops there
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
        """Seal the open segment, if any."""
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
    """Whether ``path`` is named like a segment (others are logged and ignored)."""
    try:
        _key(path)
    except ValueError:
        log.warning("ignoring unexpected file %s in the spool", path)
        return False
    return True
