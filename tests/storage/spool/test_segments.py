"""storage.spool.segments: framing, torn tails, failed appends, recovery order (real files, tmp_path)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from storage.spool import segments
from storage.spool.segments import HEADER, Record, SegmentLog, SegmentReader, remove, scan


def _read(path: Path) -> tuple[list[Record], int]:
    """The records of a segment and the size of its damaged tail."""
    reader = SegmentReader(path)
    records = list(reader)
    return records, reader.damaged_bytes


def _records(n: int) -> list[Record]:
    return [Record(i + 1, f"payload-{i}".encode() * (i + 1)) for i in range(n)]


def test_appended_records_read_back_in_order(tmp_path: Path) -> None:
    log = SegmentLog(tmp_path)
    first, second = _records(3), _records(2)
    written = log.append(first) + log.append(second)
    path = log.seal()
    assert path is not None and path.stat().st_size == written
    assert _read(path) == (first + second, 0)
    assert log.seal() is None  # nothing open any more


def test_torn_tail_is_cut_at_the_last_intact_record(tmp_path: Path) -> None:
    log = SegmentLog(tmp_path)
    log.append(_records(2))
    path = log.seal()
    assert path is not None
    whole = path.read_bytes()
    path.write_bytes(whole + segments.frame(Record(7, b"x" * 100))[:-10])  # a crash mid-append
    assert _read(path) == (_records(2), HEADER.size + 90)


def test_corrupt_record_ends_the_segment(tmp_path: Path) -> None:
    log = SegmentLog(tmp_path)
    log.append(_records(3))
    path = log.seal()
    assert path is not None
    raw = bytearray(path.read_bytes())
    second = HEADER.size + len(_records(1)[0].payload)
    raw[second + HEADER.size] ^= 0xFF  # flip a payload byte of record 2
    path.write_bytes(bytes(raw))
    assert _read(path)[0] == _records(1)
    raw = bytearray(path.read_bytes())
    raw[second + 4] ^= 0x01  # rows field of record 2 is covered by the checksum too
    path.write_bytes(bytes(raw))
    assert _read(path)[0] == _records(1)


def test_failed_append_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk that fills mid-write (the OS edge: os.write writes part, then ENOSPC)."""
    log = SegmentLog(tmp_path)
    log.append(_records(1))
    real_write = os.write

    def partial_then_full(fd: int, data: bytes | memoryview) -> int:
        if len(data) > 8:
            return real_write(fd, bytes(data[:8]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(segments.os, "write", partial_then_full)
    with pytest.raises(OSError):
        log.append(_records(3))
    monkeypatch.setattr(segments.os, "write", real_write)
    log.append([Record(9, b"after")])
    path = log.seal()
    assert path is not None
    assert _read(path)[0] == _records(1) + [Record(9, b"after")]


def test_segments_left_by_a_previous_process_are_recovered_oldest_first(tmp_path: Path) -> None:
    old = SegmentLog(tmp_path)
    old.append(_records(1))
    sealed = old.seal()
    old.append(_records(2))  # left open: the process "crashed"
    newer = SegmentLog(tmp_path)
    assert newer.recovered == [sealed, old.open_path]
    assert newer.epoch > old.epoch
    (tmp_path / "notes.seg").write_text("not ours")
    assert len(SegmentLog(tmp_path).recovered) == 2


def test_remove_returns_the_bytes_freed(tmp_path: Path) -> None:
    log = SegmentLog(tmp_path)
    written = log.append(_records(2))
    path = log.seal()
    assert path is not None
    assert remove(path) == written and not path.exists()
    assert remove(path) == 0


def test_scan_counts_requests_and_records_up_to_a_torn_tail(tmp_path: Path) -> None:
    """``scan`` reads headers only and stops where a record would not fit."""
    log = SegmentLog(tmp_path)
    log.append(_records(3))  # 1 + 2 + 3 records
    path = log.seal()
    assert path is not None
    assert scan(path) == (3, 6)
    path.write_bytes(path.read_bytes() + segments.frame(Record(7, b"x" * 100))[:-1])
    assert scan(path) == (3, 6)
    empty = tmp_path / "00000000000000000001-0000000001.seg"
    empty.write_bytes(b"")
    assert scan(empty) == (0, 0)
