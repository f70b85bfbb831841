"""One idempotent ``INSERT … FORMAT Protobuf`` of OTLP request payloads into a staging table.

Contract: ``ChunkInserter.insert(signal, payloads, token)`` commits every payload (each an OTLP export
request of ``signal``; the staging table's views flatten them into the ``otel_*`` tables) or raises:

* :class:`RejectedPayload` — ClickHouse refused the *data* (an error code in ``DATA_ERROR_CODES``);
  retrying the same bytes cannot succeed.
* :class:`StoreUnavailable` — anything else (disk full, read-only, memory limit, connection loss…);
  retry later.

``after_commit(client, signal)``, if given, runs on the same handle right after an INSERT committed and
before ``insert`` returns (the caller still holds the data): a :class:`StoreUnavailable` it raises is
passed on (send the same chunk again later); any other failure becomes a ``StoreUnavailable`` too — it
says nothing about the payloads, so they must not be dead-lettered.

``token`` becomes the ``insert_deduplication_token``: repeating an insert with the same token and the
same payloads (e.g. after a crash between the commit and the spool's bookkeeping) stores nothing twice
(``non_replicated_deduplication_window`` on the target tables, propagated through the views).
Thread-safety: one inserter per thread (a chDB handle runs one statement at a time).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from google.protobuf.internal.encoder import _VarintBytes  # type: ignore[attr-defined]

from contracts.errors import RejectedPayload, StoreUnavailable
from contracts.signals import Signal
from storage.clickhouse import ddl

AfterCommit = Callable[[Client, Signal], None]

# ClickHouse error codes that mean "this data is bad" (permanent); every other failure — disk full,
# read-only, memory limit, missing table, connection loss — means "the store is not able right now".
# Requests are validated and re-encoded with upb before they are spooled, so data errors are rare by
# construction.
DATA_ERROR_CODES = frozenset({6, 26, 27, 32, 33, 36, 38, 41, 53, 69, 70, 72, 117, 128, 131, 321, 407, 436, 444})
_CODE = re.compile(r"Code: (\d+)")


def error_code(exc: BaseException) -> int | None:
    """The ClickHouse error code in an exception's message, if any."""
    match = _CODE.search(str(exc))
    return int(match.group(1)) if match else None


def is_data_error(exc: BaseException) -> bool:
    """Whether the store refused the data itself (retrying the same bytes cannot succeed)."""
    return error_code(exc) in DATA_ERROR_CODES


def length_delimited(payloads: list[bytes]) -> bytes:
    """The ``Protobuf`` input format's stream: each message prefixed by its varint length."""
    return b"".join(_VarintBytes(len(p)) + p for p in payloads)


class ChunkInserter:
    """Inserts chunks of one signal's payloads on its own handle (one inserter per thread)."""

    def __init__(self, connect: Callable[[], Client], protobuf_settings: Callable[[str], dict[str, Any]],
                 after_commit: AfterCommit | None = None) -> None:
        """An inserter opening its handle with ``connect`` on first use."""
        self._connect = connect
        self._after_commit = after_commit
        self._client: Client | None = None
        self._settings = {signal: protobuf_settings(message) for signal, (_, message) in ddl.STAGING.items()}

    def insert(self, signal: Signal, payloads: list[bytes], token: str) -> None:
        """Commit every payload or raise (see the module docstring)."""
        settings = {
            **self._settings[signal],
            "insert_deduplicate": 1,
            "insert_deduplication_token": token,
            "deduplicate_blocks_in_dependent_materialized_views": 1,
        }
        try:
            if self._client is None:
                self._client = self._connect()
            self._client.raw_insert(ddl.STAGING[signal][0], None, length_delimited(payloads), fmt="Protobuf",
                                    settings=settings)
        except OperationalError as exc:
            self.reset()
            raise StoreUnavailable(str(exc)) from exc
        except DatabaseError as exc:
            if is_data_error(exc):
                raise RejectedPayload(str(exc)) from exc
            self.reset()
            raise StoreUnavailable(str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - a handle that failed to open: the store is not there
            self.reset()
            raise StoreUnavailable(str(exc)) from exc
        if self._after_commit is not None:
            self._run_after_commit(signal, self._client)

    def _run_after_commit(self, signal: Signal, client: Client) -> None:
        """Whatever goes wrong after the commit says nothing about the payloads: retry later."""
        assert self._after_commit is not None
        try:
            self._after_commit(client, signal)
        except StoreUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001
            self.reset()
            raise StoreUnavailable(f"the step after the INSERT committed failed: {exc}") from exc

    def reset(self) -> None:
        """Forget the handle; the next insert opens a new one.

        An embedded chDB handle is not closed: closing it would close the shared in-process engine.
        """
        self._client = None
