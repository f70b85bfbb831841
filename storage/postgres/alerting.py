""":class:`contracts.alerting.AlertingRepository` on PostgreSQL (metadata migration 4).

Tables: ``vigil_rule_groups`` (one JSON state document per group), ``vigil_alert_history``,
``vigil_silences``, ``vigil_alert_acks``, ``vigil_notification_log`` (per group key and receiver) and
``vigil_deliveries``. :meth:`PostgresAlerting.save_group` writes the state and its transitions in one
transaction, so a crash never leaves history without state or the reverse. Times are unix ms (``bigint``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from contracts.alerting import Ack, Delivery, Matchers, Sent, Silence, Transition

MIGRATION_STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS vigil_rule_groups (
           key text PRIMARY KEY,
           state jsonb NOT NULL,
           evaluated_at_ms bigint NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS vigil_alert_history (
           id bigserial PRIMARY KEY,
           group_key text NOT NULL,
           rule text NOT NULL,
           fingerprint text NOT NULL,
           labels jsonb NOT NULL,
           from_state text NOT NULL,
           to_state text NOT NULL,
           at_ms bigint NOT NULL,
           value double precision NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS vigil_alert_history_fp ON vigil_alert_history (fingerprint, id DESC)",
    """CREATE TABLE IF NOT EXISTS vigil_silences (
           id text PRIMARY KEY,
           matchers jsonb NOT NULL,
           starts_at_ms bigint NOT NULL,
           ends_at_ms bigint NOT NULL,
           created_by text NOT NULL,
           comment text NOT NULL,
           created_at_ms bigint NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS vigil_alert_acks (
           fingerprint text PRIMARY KEY,
           by_whom text NOT NULL,
           at_ms bigint NOT NULL,
           expires_at_ms bigint NOT NULL,
           comment text NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS vigil_notification_log (
           group_key text NOT NULL,
           receiver text NOT NULL,
           at_ms bigint NOT NULL,
           firing text[] NOT NULL,
           resolved text[] NOT NULL,
           escalation_step integer NOT NULL,
           PRIMARY KEY (group_key, receiver))""",
    """CREATE TABLE IF NOT EXISTS vigil_deliveries (
           id bigserial PRIMARY KEY,
           receiver text NOT NULL,
           integration text NOT NULL,
           group_key text NOT NULL,
           attempt integer NOT NULL,
           at_ms bigint NOT NULL,
           duration_ms double precision NOT NULL,
           outcome text NOT NULL,
           error text NOT NULL)""",
]

Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]
_SILENCE = "id, matchers, starts_at_ms, ends_at_ms, created_by, comment, created_at_ms"
_DELIVERY = "receiver, integration, group_key, attempt, at_ms, duration_ms, outcome, error"


def _transition(r: tuple[Any, ...]) -> Transition:
    return Transition(r[0], r[1], r[2], dict(r[3]), r[4], r[5], int(r[6]), float(r[7]))


def _silence(r: tuple[Any, ...]) -> Silence:
    return Silence(r[0], [list(m) for m in r[1]], int(r[2]), int(r[3]), r[4], r[5], int(r[6]))


class PostgresAlerting:
    """Alerting's durable state on the tables of :data:`MIGRATION_STATEMENTS`."""

    def __init__(self, connect: Connect) -> None:
        """Use connections from ``connect`` (one per call)."""
        self._connect = connect

    def load_group(self, key: str) -> dict[str, Any] | None:  # noqa: D102
        with self._connect() as conn:
            row = conn.execute("SELECT state FROM vigil_rule_groups WHERE key = %s", (key,)).fetchone()
        return None if row is None else dict(row[0])

    def save_group(self, key: str, state: dict[str, Any], evaluated_at_ms: int,  # noqa: D102
                   transitions: list[Transition]) -> None:
        with self._connect() as conn, conn.transaction():
            conn.execute("INSERT INTO vigil_rule_groups (key, state, evaluated_at_ms) VALUES (%s, %s, %s) "
                         "ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state, "
                         "evaluated_at_ms = EXCLUDED.evaluated_at_ms", (key, Jsonb(state), evaluated_at_ms))
            if transitions:
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO vigil_alert_history (group_key, rule, fingerprint, labels, from_state, "
                        "to_state, at_ms, value) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        [(t.group, t.rule, t.fingerprint, Jsonb(t.labels), t.from_state, t.to_state, t.at_ms,
                          t.value) for t in transitions])

    def history(self, limit: int = 100, fingerprint: str = "", group: str = "") -> list[Transition]:  # noqa: D102
        conds, params = [], []
        if fingerprint:
            conds.append("fingerprint = %s")
            params.append(fingerprint)
        if group:
            conds.append("group_key = %s")
            params.append(group)
        where = f"WHERE {' AND '.join(conds)}" if conds else ""
        with self._connect() as conn:
            rows = conn.execute("SELECT group_key, rule, fingerprint, labels, from_state, to_state, at_ms, value "
                                f"FROM vigil_alert_history {where} ORDER BY id DESC LIMIT %s",
                                (*params, limit)).fetchall()
        return [_transition(r) for r in rows]

    def add_silence(self, matchers: Matchers, starts_at_ms: int, ends_at_ms: int, created_by: str,  # noqa: D102
                    comment: str, now_ms: int) -> Silence:
        s = Silence(str(uuid.uuid4()), matchers, starts_at_ms, ends_at_ms, created_by, comment, now_ms)
        with self._connect() as conn:
            conn.execute(f"INSERT INTO vigil_silences ({_SILENCE}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                         (s.id, Jsonb(s.matchers), s.starts_at_ms, s.ends_at_ms, s.created_by, s.comment,
                          s.created_at_ms))
        return s

    def silences(self) -> list[Silence]:  # noqa: D102
        with self._connect() as conn:
            rows = conn.execute(f"SELECT {_SILENCE} FROM vigil_silences ORDER BY created_at_ms DESC, id DESC")
            return [_silence(r) for r in rows.fetchall()]

    def expire_silence(self, silence_id: str, now_ms: int) -> Silence | None:  # noqa: D102
        with self._connect() as conn:
            conn.execute("UPDATE vigil_silences SET ends_at_ms = GREATEST(%s, starts_at_ms) "
                         "WHERE id = %s AND ends_at_ms > %s", (now_ms, silence_id, now_ms))
            row = conn.execute(f"SELECT {_SILENCE} FROM vigil_silences WHERE id = %s", (silence_id,)).fetchone()
        return None if row is None else _silence(row)

    def acknowledge(self, ack: Ack) -> None:  # noqa: D102
        with self._connect() as conn:
            conn.execute("INSERT INTO vigil_alert_acks (fingerprint, by_whom, at_ms, expires_at_ms, comment) "
                         "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (fingerprint) DO UPDATE SET "
                         "by_whom = EXCLUDED.by_whom, at_ms = EXCLUDED.at_ms, "
                         "expires_at_ms = EXCLUDED.expires_at_ms, comment = EXCLUDED.comment",
                         (ack.fingerprint, ack.by, ack.at_ms, ack.expires_at_ms, ack.comment))

    def acks(self) -> dict[str, Ack]:  # noqa: D102
        with self._connect() as conn:
            rows = conn.execute("SELECT fingerprint, by_whom, at_ms, expires_at_ms, comment "
                                "FROM vigil_alert_acks").fetchall()
        return {r[0]: Ack(r[0], r[1], int(r[2]), int(r[3]), r[4]) for r in rows}

    def clear_ack(self, fingerprint: str) -> None:  # noqa: D102
        with self._connect() as conn:
            conn.execute("DELETE FROM vigil_alert_acks WHERE fingerprint = %s", (fingerprint,))

    def last_sent(self, group_key: str, receiver: str) -> Sent | None:  # noqa: D102
        with self._connect() as conn:
            r = conn.execute("SELECT at_ms, firing, resolved, escalation_step FROM vigil_notification_log "
                             "WHERE group_key = %s AND receiver = %s", (group_key, receiver)).fetchone()
        return None if r is None else Sent(group_key, receiver, int(r[0]), tuple(r[1]), tuple(r[2]), int(r[3]))

    def record_sent(self, sent: Sent) -> None:  # noqa: D102
        with self._connect() as conn:
            conn.execute("INSERT INTO vigil_notification_log (group_key, receiver, at_ms, firing, resolved, "
                         "escalation_step) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (group_key, receiver) "
                         "DO UPDATE SET at_ms = EXCLUDED.at_ms, firing = EXCLUDED.firing, "
                         "resolved = EXCLUDED.resolved, escalation_step = EXCLUDED.escalation_step",
                         (sent.group_key, sent.receiver, sent.at_ms, list(sent.firing), list(sent.resolved),
                          sent.escalation_step))

    def log_delivery(self, delivery: Delivery) -> None:  # noqa: D102
        d = delivery
        with self._connect() as conn:
            conn.execute(f"INSERT INTO vigil_deliveries ({_DELIVERY}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                         (d.receiver, d.integration, d.group_key, d.attempt, d.at_ms, d.duration_ms, d.outcome,
                          d.error))

    def deliveries(self, limit: int = 100, receiver: str = "") -> list[Delivery]:  # noqa: D102
        where, params = ("WHERE receiver = %s", (receiver,)) if receiver else ("", ())
        with self._connect() as conn:
            rows = conn.execute(f"SELECT {_DELIVERY}, id FROM vigil_deliveries {where} ORDER BY id DESC LIMIT %s",
                                (*params, limit)).fetchall()
        return [Delivery(r[0], r[1], r[2], int(r[3]), int(r[4]), float(r[5]), r[6], r[7], int(r[8])) for r in rows]
