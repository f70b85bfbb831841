"""Drive embedded chDB on a small filesystem that keeps filling up while it writes (run as a subprocess:
chDB opens one data path per process).

Usage: ``python -m tests.storage.clickhouse.disk_full_race <mount> <rounds> <seed> [unguarded] [options]``;
prints one JSON line. ``unguarded`` runs without the part guard, to see the store's own behaviour.
Options (the guard is wired by :class:`~storage.clickhouse.guarded.ColumnarStore`, as ``vigil serve`` does):
``--watch-below BYTES`` (default: always), ``--hold-below BYTES`` (default 0: never hold), ``--watch-for S``
(default 60), ``--no-prevent`` (merges keep running while watching), ``--stage BYTES`` with ``--stage-s S``
(the filler first leaves BYTES free for S seconds — a disk filling at a pace a probe can see — then takes
the rest). Figures: ``docs/part-guard.md``.

Each round a filler thread takes every free byte of ``<mount>`` at a random moment while the main thread
keeps inserting chunks of trace requests (as the spool's flattener does: a chunk that fails is re-sent
with the same deduplication token until it is stored) and every other round merges the table. While the
disk is full, a trace stored earlier is read back. After the filler lets go, pending chunks are stored;
the guard's sweeper runs all along, as in ``vigil serve``. The report says what a correct store must
show: every read answered without an error and in full, and exactly the stored spans present at the
end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
from pathlib import Path

from contracts.errors import StoreUnavailable
from contracts.signals import Signal
from storage.clickhouse.client import connect, protobuf_settings
from storage.clickhouse.guarded import ColumnarStore
from storage.clickhouse.migrations import Retention, migrate
from storage.clickhouse.part_guard import HOLD_MESSAGE, PartGuard
from tests.receiver import now_ns, span_request
from tests.tmpfs import Filler

SPANS = 200


def options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="disk_full_race")
    parser.add_argument("mount", type=Path)
    parser.add_argument("rounds", type=int)
    parser.add_argument("seed", type=int)
    parser.add_argument("mode", nargs="?", choices=["guarded", "unguarded"], default="guarded")
    parser.add_argument("--watch-below", type=int, default=1 << 62)
    parser.add_argument("--hold-below", type=int, default=0)
    parser.add_argument("--watch-for", type=float, default=60.0)
    parser.add_argument("--no-prevent", action="store_true")
    parser.add_argument("--stage", type=int, default=0, help="fill down to this many free bytes first")
    parser.add_argument("--stage-s", type=float, default=1.0, help="…and keep that for this long")
    return parser.parse_args(argv)


class StagedFiller(Filler):
    """A filler that first leaves ``stage`` bytes free for ``stage_s`` seconds (a disk filling at a pace a
    probe can see), then takes the rest."""

    def __init__(self, path: Path, delay: float, stage: int, stage_s: float) -> None:
        super().__init__(path.with_suffix(".rest"), delay)
        self.first, self.stage, self.stage_s = path, stage, stage_s

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return
        with open(self.first, "wb", buffering=0) as f:
            while not self._stop.is_set():
                st = os.statvfs(self.first)
                room = st.f_bavail * st.f_frsize - self.stage
                if room <= 0:
                    break
                f.write(b"\0" * min(room, 1 << 20))
        if self._stop.wait(self.stage_s):
            return
        self.delay = 0.0
        super()._run()

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.first.unlink(missing_ok=True)


def make_guard(args: argparse.Namespace) -> PartGuard | None:
    if args.mode == "unguarded":
        return None
    return PartGuard(args.watch_below, hold_below_free_bytes=args.hold_below, watch_for_s=args.watch_for,
                     stop_merges=not args.no_prevent)


def main(args: argparse.Namespace) -> dict[str, object]:
    mount, rounds = args.mount, args.rounds
    rng = random.Random(args.seed)
    dsn = f"chdb://{mount / 'chdb'}"
    admin = connect(dsn)
    migrate(admin, Retention(30, 30, 90))
    guard = make_guard(args)
    columnar = ColumnarStore(lambda: connect(dsn), lambda m: protobuf_settings(dsn, m), guard, "chdb")
    inserter, reader = columnar.make_sink(), columnar.reader
    columnar.start()  # the sweeper, as `vigil serve` runs it
    stored_traces: list[str] = []
    chunk_no, stored_spans, read_errors, short_reads, reads, retries, holds = 0, 0, [], [], 0, 0, 0
    pending: tuple[str, list[bytes], list[str]] | None = None

    def store(chunk: tuple[str, list[bytes], list[str]]) -> bool:
        nonlocal stored_spans, retries, holds
        token, payloads, traces = chunk
        try:
            inserter.insert(Signal.TRACES, payloads, token)
        except StoreUnavailable as exc:
            if str(exc) == HOLD_MESSAGE:
                holds += 1
                time.sleep(0.01)  # the spool backs off too
            else:
                retries += 1
            return False
        stored_spans += SPANS * len(payloads)
        stored_traces.extend(traces)
        return True

    for r in range(rounds):
        delay = rng.uniform(0.0, 0.3)
        with (StagedFiller(mount / "filler", delay, args.stage, args.stage_s) if args.stage
              else Filler(mount / "filler", delay)) as filler:
            deadline = time.monotonic() + 3
            while not filler.full.is_set() and time.monotonic() < deadline:
                if pending is None:
                    chunk_no += 1
                    trace_ids = [os.urandom(16) for _ in range(rng.randint(4, 12))]
                    start = now_ns()
                    payloads = [span_request(*[start + i for i in range(SPANS)], service="race",
                                             trace_id=t).SerializeToString() for t in trace_ids]
                    pending = (f"race:{chunk_no}", payloads, [t.hex() for t in trace_ids])
                if store(pending):
                    pending = None
                if r % 2 and chunk_no % 3 == 0:
                    with contextlib.suppress(Exception):  # no space to merge: fine
                        admin.command("OPTIMIZE TABLE otel_traces")
            if stored_traces:
                reads += 1
                try:
                    rows = reader.rows("SELECT count() AS n FROM otel_traces WHERE TraceId = {t:String}",
                                       {"t": rng.choice(stored_traces)})
                    if rows != [{"n": SPANS}]:
                        short_reads.append(f"round {r}: {rows}; " + (guard_state(guard) if guard else ""))
                except Exception as exc:  # noqa: BLE001 - reported
                    read_errors.append(f"round {r}: {str(exc)[:300]}")
        while pending is not None:  # space is back: the chunk is stored (re-sent as often as needed)
            if store(pending):
                pending = None
            else:
                time.sleep(0.05)
    columnar.stop(10)
    for _ in range(20 if guard else 0):  # damaged inserted parts left to drop once the disk freed up
        assert guard is not None
        guard.sweep(admin)
        if not guard.damaged_parts():
            break
        time.sleep(0.2)
    if guard is not None:
        guard.release(admin)
    count = reader.rows("SELECT count() AS n FROM otel_traces WHERE ServiceName = 'race'")[0]["n"]
    lookup = reader.rows("SELECT uniqExact(TraceId) AS n FROM otel_traces_trace_id_ts")[0]["n"]
    return {"rounds": rounds, "chunks": chunk_no, "stored_spans": stored_spans, "spans_in_store": count,
            "traces": len(stored_traces), "traces_in_lookup": lookup, "reads": reads,
            "read_errors": read_errors, "short_reads": short_reads, "retries": retries, "holds": holds,
            "damaged_inserts": guard.stats.damaged_inserts if guard else None,
            "damaged_merges": guard.stats.damaged_merges if guard else None,
            "merge_stops": guard.stats.merge_stops if guard else None,
            "unrepaired": guard.stats.unrepaired if guard else [],
            "still_damaged": guard.damaged_parts() if guard else []}


def guard_state(guard: PartGuard) -> str:
    return f"hidden {guard.damaged_parts()}, {guard.stats.last_error[:200]}"


if __name__ == "__main__":
    print(json.dumps(main(options(sys.argv[1:]))))
