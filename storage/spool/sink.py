"""The chunk sink: where the flatteners commit spooled requests (the spool's only view of the store).

The spool does not know which store it feeds; the composition root hands the writer a factory of
sinks (``storage.clickhouse.inserter.ChunkInserter`` conforms structurally).
"""

from __future__ import annotations

from typing import Protocol

from contracts.signals import Signal


class ChunkSink(Protocol):
    """Commits chunks of one signal's serialized OTLP export requests.

    Thread-safety: a sink is used by one flattener thread only (the writer calls the factory once per
    flattener, and again after that flattener failed unexpectedly), so it need not be thread-safe.
    """

    def insert(self, signal: Signal, payloads: list[bytes], token: str) -> None:
        """Commit every payload of ``payloads`` at once, or none of them.

        Args:
            signal: The signal all ``payloads`` belong to.
            payloads: Serialized OTLP export requests, in spool order.
            token: An insert-deduplication token: committing the same payloads with the same token
                again must store nothing twice (a segment replayed after a crash).

        Raises:
            contracts.errors.StoreUnavailable: The store cannot take the chunk right now; the writer
                retries the same chunk (same token) after a back-off.
            contracts.errors.RejectedPayload: The store refused the data itself; the writer retries
                the requests one by one and dead-letters those still refused.
        """
        ...
