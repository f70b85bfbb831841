"""Drive embedded chDB on a small filesystem that keeps filling up while it writes (run as a subprocess:
chDB opens one data path per process).

Usage: ``python -m tests.storage.clickhouse.disk_full_race <mount> <rounds> <seed> [unguarded]``; prints one
JSON line. ``unguarded`` runs without the part guard, to see the store's own behaviour.

Each round a filler thread takes every free byte of ``<mount>`` at a random moment while the main thread
keeps inserting chunks of trace requests (as the spool's flattener does: a chunk that fails is re-sent
with the same deduplication token until it is stored) and every other round merges the table. While the
disk is full, a trace stored earlier is read back. After the filler lets go, pending chunks are stored
the guard's sweeper runs all along, as in ``vigil serve``. The report says what a correct store must
show: every read answered without an error, and exactly the stored spans present at the end. Reads
that come back short are reported too (a damaged merged part that reads without an error hides its
rows until the sweeper's next tick finds it).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import time
from pathlib import Path

from contracts.errors import StoreUnavailable
from storage.clickhouse.client import connect, protobuf_settings
from storage.clickhouse.inserter import ChunkInserter
from storage.clickhouse.migrations import Retention, migrate
from storage.clickhouse.part_guard import PartGuard
from storage.clickhouse.part_sweeper import PartSweeper
from storage.clickhouse.reader import ClickHouseReader
from tests.receiver import now_ns, span_request
from tests.tmpfs import Filler

SPANS = 200


def main(mount: Path, rounds: int, seed: int, guarded: bool = True) -> dict[str, object]:
    rng = random.Random(seed)
    dsn = f"chdb://{mount / 'chdb'}"
    admin = connect(dsn)
    migrate(admin, Retention(30, 30, 90))
    guard = PartGuard(1 << 62 if guarded else 0, local_files=True)
    inserter = ChunkInserter(lambda: connect(dsn), lambda m: protobuf_settings(dsn, m), guard)
    reader = ClickHouseReader(lambda: connect(dsn), guard=guard if guarded else None)
    sweeper = PartSweeper(guard, lambda: connect(dsn))  # as `vigil serve` runs it
    if guarded:
        sweeper.start()
    stored_traces: list[str] = []
    chunk_no, stored_spans, read_errors, short_reads, reads, retries = 0, 0, [], [], 0, 0
    pending: tuple[str, list[bytes], list[str]] | None = None

    def store(chunk: tuple[str, list[bytes], list[str]]) -> bool:
        nonlocal stored_spans, retries
        token, payloads, traces = chunk
        try:
            inserter.insert("traces", payloads, token)
        except StoreUnavailable:
            retries += 1
            return False
        stored_spans += SPANS * len(payloads)
        stored_traces.extend(traces)
        return True

    for r in range(rounds):
        with Filler(mount / "filler", rng.uniform(0.0, 0.3)) as filler:
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
                        short_reads.append(f"round {r}: {rows}; hidden {guard.damaged_parts()}, "
                                           f"to attach {guard.attach_pending}, "
                                           f"{guard.stats.last_error[:200]}")
                except Exception as exc:  # noqa: BLE001 - reported
                    read_errors.append(f"round {r}: {str(exc)[:300]}")
        while pending is not None:  # space is back: the chunk is stored (re-sent as often as needed)
            if store(pending):
                pending = None
            else:
                time.sleep(0.05)
    sweeper.stop()
    for _ in range(20):  # repairs left for after the disk freed up
        guard.sweep(admin)
        if not guard.damaged_parts():
            break
        time.sleep(0.2)
    count = reader.rows("SELECT count() AS n FROM otel_traces WHERE ServiceName = 'race'")[0]["n"]
    lookup = reader.rows("SELECT uniqExact(TraceId) AS n FROM otel_traces_trace_id_ts")[0]["n"]
    return {"rounds": rounds, "chunks": chunk_no, "stored_spans": stored_spans, "spans_in_store": count,
            "traces": len(stored_traces), "traces_in_lookup": lookup, "reads": reads,
            "read_errors": read_errors, "short_reads": short_reads, "retries": retries,
            "damaged_inserts": guard.stats.damaged_inserts,
            "restored_merges": guard.stats.restored_merges, "unrepaired": guard.stats.unrepaired,
            "still_damaged": guard.damaged_parts()}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:] != ["unguarded"])))
