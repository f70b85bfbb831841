"""Vigil's own Prometheus metrics (``GET /metrics`` on the API port), one registry per app instance.

Exposes: records accepted/rejected per signal and reason, refused requests per signal and reason,
request sizes, batch sizes (requests and records), flush latency, flush failures, and at scrape time
the writer's in-flight bytes, queued requests, spool backlog and dead letters; plus the standard
``process_*`` and ``python_*`` collectors of ``prometheus_client``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from storage.spool.writer import WriterStats

SIZE_BUCKETS = (1e3, 1e4, 1e5, 3e5, 1e6, 4e6, 16e6, 64e6)
ROW_BUCKETS = (1, 10, 100, 1_000, 5_000, 10_000, 20_000, 50_000)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class _WriterCollector(Collector):
    def __init__(self, stats: Callable[[], WriterStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self._stats()
        yield GaugeMetricFamily("vigil_ingest_inflight_bytes", "Accepted request bytes not yet spooled",
                                value=s.inflight_bytes_now)
        yield GaugeMetricFamily("vigil_ingest_queued_requests", "Requests waiting for the spool append",
                                value=s.queued_requests_now)
        yield GaugeMetricFamily("vigil_ingest_spool_backlog_bytes", "Spooled (acknowledged) bytes not yet stored",
                                value=s.backlog_bytes_now)
        yield CounterMetricFamily("vigil_ingest_dead_letters", "Acknowledged requests the store refused as data "
                                  "(kept under <spool>/dead)", value=s.dead_letters)


class SelfMetrics:
    """Implements the receiver's ``IngestObserver`` and storage's ``FlushObserver``."""

    def __init__(self) -> None:
        """Create the registry and every metric (one registry per app instance: no global state)."""
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)  # process_* (CPU, memory, open fds, start time)
        PlatformCollector(registry=r)  # python_info
        GCCollector(registry=r)  # python_gc_*
        self.records = Counter("vigil_ingest_records", "Records by signal and outcome",
                               ["signal", "outcome", "reason"], registry=r)
        self.refused = Counter("vigil_ingest_refused_requests", "Requests refused as a whole",
                               ["signal", "reason"], registry=r)
        self.request_bytes = Histogram("vigil_ingest_request_bytes", "Decoded request size",
                                       ["signal"], buckets=SIZE_BUCKETS, registry=r)
        self.batch_requests = Histogram("vigil_ingest_batch_requests", "Requests per committed batch",
                                        ["signal"], buckets=ROW_BUCKETS, registry=r)
        self.batch_rows = Histogram("vigil_ingest_batch_records", "Records per committed batch",
                                    ["signal"], buckets=ROW_BUCKETS, registry=r)
        self.flush_seconds = Histogram("vigil_ingest_flush_seconds", "Latency of one batch insert",
                                       ["signal"], buckets=LATENCY_BUCKETS, registry=r)
        self.store_errors = Counter("vigil_store_errors", "Failed batch inserts", ["signal", "kind"], registry=r)

    def watch_writer(self, stats: Callable[[], WriterStats]) -> None:
        """Expose the spool writer's gauges, read from ``stats()`` at each scrape."""
        self.registry.register(_WriterCollector(stats))

    # IngestObserver
    def request(self, signal: str, nbytes: int, accepted: int, rejected: dict[str, int]) -> None:
        """Count an answered request: its size, accepted records and rejected ones by reason."""
        self.request_bytes.labels(signal).observe(nbytes)
        self.records.labels(signal, "accepted", "").inc(accepted)
        for reason, n in rejected.items():
            if n:
                self.records.labels(signal, "rejected", reason).inc(n)

    def refused_request(self, signal: str, reason: str) -> None:
        """Count a request refused as a whole."""
        self.refused.labels(signal, reason).inc()

    # FlushObserver
    def flushed(self, signal: str, requests: int, rows: int, seconds: float) -> None:
        """Observe a committed INSERT (requests, records, seconds)."""
        self.batch_requests.labels(signal).observe(requests)
        self.batch_rows.labels(signal).observe(rows)
        self.flush_seconds.labels(signal).observe(seconds)

    def failed(self, signal: str, requests: int, kind: str) -> None:
        """Count a failed INSERT by kind (``unavailable`` / ``rejected``)."""
        self.store_errors.labels(signal, kind).inc()

    def exposition(self) -> bytes:
        """The Prometheus text exposition of every metric (thread-safe)."""
        return generate_latest(self.registry)
