"""The AlertingRepository rules, the same tests on the in-memory and the real PostgreSQL implementation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from contracts.alerting import Ack, AlertingRepository, Delivery, InMemoryAlerting, Sent, Transition
from storage.postgres.store import PostgresMetadataStore
from tests.pg import throwaway_database


@pytest.fixture(params=["memory", "postgres"])
def repo(request: pytest.FixtureRequest) -> Iterator[AlertingRepository]:
    if request.param == "memory":
        yield InMemoryAlerting()
        return
    with throwaway_database() as url:
        store = PostgresMetadataStore(url)
        store.migrate("test")
        yield store.alerting


def tr(fp: str, frm: str, to: str, at: int, group: str = "g") -> Transition:
    return Transition(group, "HighErrors", fp, {"alertname": "HighErrors", "svc": fp}, frm, to, at, 7.5)


def test_group_state_and_its_transitions_are_saved_together(repo: AlertingRepository) -> None:
    assert repo.load_group("rules.yml/api") is None
    state = {"rules": [{"alerts": {"k": {"state": "pending", "active_at_ms": 10, "labels": {"a": "ü"}}}}]}
    repo.save_group("rules.yml/api", state, 10, [tr("f1", "inactive", "pending", 10)])
    state["rules"][0]["alerts"]["k"]["state"] = "mutated after saving"
    loaded = repo.load_group("rules.yml/api")
    assert loaded is not None and loaded["rules"][0]["alerts"]["k"]["state"] == "pending"
    assert loaded["rules"][0]["alerts"]["k"]["labels"] == {"a": "ü"}
    repo.save_group("rules.yml/api", {"rules": []}, 20, [tr("f1", "pending", "firing", 20),
                                                         tr("f2", "inactive", "pending", 20, group="other")])
    assert repo.load_group("rules.yml/api") == {"rules": []}
    assert [(t.fingerprint, t.to_state) for t in repo.history()] == [("f2", "pending"), ("f1", "firing"),
                                                                     ("f1", "pending")]
    assert [t.at_ms for t in repo.history(fingerprint="f1")] == [20, 10]
    assert [t.fingerprint for t in repo.history(group="other")] == ["f2"]
    assert len(repo.history(limit=1)) == 1
    assert repo.history()[0] == tr("f2", "inactive", "pending", 20, group="other")


def test_silences_are_created_listed_and_expired(repo: AlertingRepository) -> None:
    a = repo.add_silence([["svc", "=", "pay"], ["env", "=~", "prod|stage"]], 100, 1000, "ana", "deploy", 50)
    b = repo.add_silence([["svc", "!=", "x"]], 2000, 3000, "bo", "", 60)
    assert [s.id for s in repo.silences()] == [b.id, a.id]
    assert a.state(99) == "pending" and a.state(100) == "active" and a.state(1000) == "expired"
    expired = repo.expire_silence(a.id, 500)
    assert expired is not None and expired.ends_at_ms == 500 and expired.state(500) == "expired"
    assert repo.expire_silence(a.id, 700).ends_at_ms == 500  # type: ignore[union-attr]  # already over: unchanged
    pending = repo.expire_silence(b.id, 600)  # a pending silence ends before it starts
    assert pending is not None and pending.state(2500) == "expired"
    assert repo.expire_silence("nope", 1) is None
    assert repo.silences()[1].matchers == [["svc", "=", "pay"], ["env", "=~", "prod|stage"]]


def test_acks_the_notification_log_and_deliveries(repo: AlertingRepository) -> None:
    repo.acknowledge(Ack("f1", "ana", 10, 0, "on it"))
    repo.acknowledge(Ack("f2", "bo", 10, 100))
    repo.acknowledge(Ack("f2", "cy", 20, 200))
    acks = repo.acks()
    assert acks["f1"].active(10**12) and acks["f2"] == Ack("f2", "cy", 20, 200)
    assert not acks["f2"].active(200)
    repo.clear_ack("f1")
    assert set(repo.acks()) == {"f2"}
    assert repo.last_sent("{}:{svc=\"pay\"}", "team") is None
    repo.record_sent(Sent("{}:{svc=\"pay\"}", "team", 5, ("f1", "f2"), ()))
    repo.record_sent(Sent("{}:{svc=\"pay\"}", "team", 9, ("f2",), ("f1",), escalation_step=1))
    assert repo.last_sent("{}:{svc=\"pay\"}", "team") == Sent("{}:{svc=\"pay\"}", "team", 9, ("f2",), ("f1",), 1)
    for i, outcome in enumerate(("retry", "retry", "ok")):
        repo.log_delivery(Delivery("team", "webhook", "gk", i + 1, 100 + i, 1.5, outcome, "503" if i < 2 else ""))
    repo.log_delivery(Delivery("other", "email", "gk", 1, 200, 2.0, "failed", "550 no such user"))
    assert [(d.receiver, d.attempt, d.outcome) for d in repo.deliveries()] == [
        ("other", 1, "failed"), ("team", 3, "ok"), ("team", 2, "retry"), ("team", 1, "retry")]
    assert [d.attempt for d in repo.deliveries(receiver="team", limit=2)] == [3, 2]
    assert all(d.id > 0 for d in repo.deliveries())
