"""Replace a damaged merged part by the parts it was merged from (embedded chDB: the part files are local).

The store keeps the source parts of a merge on disk as *outdated* for ``old_parts_lifetime`` (480 s by
default). :meth:`MergeRestorer.stage` hard-links their files under the table's ``detached/`` folder (no
data copied, works on a full disk) and :meth:`MergeRestorer.attach_staged` attaches them again
(``ATTACH PART`` works on a full disk; ``DROP`` and ``DETACH`` do not). Parts that fail to attach stay
staged and are retried on the next call. Thread-safe.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from clickhouse_connect.driver.client import Client

from storage.clickhouse.parts import PART_COLUMNS, Part, quote


class MergeRestorer:
    """Stages and attaches the source parts of damaged merged parts; ``note_error`` hears what failed."""

    def __init__(self, note_error: Callable[[str], None]) -> None:
        """A restorer with nothing staged."""
        self._note_error = note_error
        self._lock = threading.Lock()
        self._to_attach: list[tuple[str, str]] = []  # (table, part under detached/) staged, not attached

    @property
    def attach_pending(self) -> int:
        """Source parts staged under ``detached/`` and not attached yet (their rows are not readable)."""
        with self._lock:
            return len(self._to_attach)

    def stage(self, client: Client, broken: Part) -> list[Part]:
        """Hard-link the source parts of ``broken`` under ``detached/``; the parts staged.

        ``[]`` when the sources are gone (its rows are lost).

        Raises:
            OSError: Linking failed; nothing is left staged.
        """
        sources = self._sources(client, broken)
        detached = Path(broken.path).parent / "detached"
        staged: list[Path] = []
        try:
            for source in sources:
                staged.append(_hardlink_part(Path(source.path), detached / source.name))
        except OSError:
            for folder in staged:
                _remove_tree(folder)
            raise
        with self._lock:
            self._to_attach += [(broken.table, s.name) for s in sources]
        return sources

    def attach_staged(self, client: Client) -> None:
        """Attach every staged part; stop at the first failure (the next call tries again)."""
        with self._lock:
            pending, self._to_attach = self._to_attach, []
        for i, (table, name) in enumerate(pending):
            try:
                client.command(f"ALTER TABLE {table} ATTACH PART {quote(name)}")
            except Exception as exc:  # noqa: BLE001 - the next sweep tries again
                with self._lock:
                    self._to_attach = pending[i:] + self._to_attach
                self._note_error(f"attach {table}/{name}: {exc}")
                return

    @staticmethod
    def _sources(client: Client, broken: Part) -> list[Part]:
        rows = client.query(
            f"SELECT {PART_COLUMNS} FROM system.parts WHERE database = currentDatabase() AND table = {{t:String}} "
            "AND NOT active AND partition_id = {p:String} AND min_block_number >= {lo:Int64} "
            "AND max_block_number <= {hi:Int64}",
            parameters={"t": broken.table, "p": broken.partition_id, "lo": broken.min_block, "hi": broken.max_block},
        ).result_rows
        candidates = [p for p in map(Part.of, rows) if broken.covers(p)]
        return [p for p in candidates if not any(q.covers(p) for q in candidates)]


def _hardlink_part(source: Path, target: Path) -> Path:
    """Hard-link the files of part directory ``source`` into a new directory ``target`` (no data copied)."""
    if target.exists():  # left by an attempt that failed half-way
        _remove_tree(target)
    target.mkdir(parents=True)
    for entry in os.scandir(source):
        if entry.is_file(follow_symlinks=False):
            os.link(entry.path, target / entry.name)
    return target


def _remove_tree(folder: Path) -> None:
    for entry in os.scandir(folder):
        os.unlink(entry.path)
    folder.rmdir()
