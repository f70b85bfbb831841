"""The IssueRepository rules, the same tests on the in-memory and the real PostgreSQL implementation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from contracts.issues import SAMPLE_TRACES, InMemoryIssues, IssueRepository, Occurrence
from storage.postgres.issues import PostgresIssues
from storage.postgres.store import PostgresMetadataStore
from tests.pg import drop_database, external_pg_database


def occ(t: int, fp: str = "f1", service: str = "payments", endpoint: str = "/charge", trace: str = "") -> Occurrence:
    return Occurrence(fp, "PaymentGatewayError", "declined txn_<n>", f"declined txn_{t}", ("a.py:f",), t, service,
                      endpoint, trace or f"t{t}")


@pytest.fixture(params=["memory", "postgres"])
def repo(request: pytest.FixtureRequest) -> Iterator[IssueRepository]:
    if request.param == "memory":
        yield InMemoryIssues()
        return
    created = external_pg_database()
    if created is None:
        pytest.skip("no PostgreSQL reachable")
    url, name = created
    store = PostgresMetadataStore(url)
    store.migrate("test")
    yield PostgresIssues(store.connection)
    drop_database(name)


def test_new_then_counted(repo: IssueRepository) -> None:
    changes = repo.record([occ(20), occ(10), occ(30, service="checkout", endpoint="/api/checkout")])
    assert [(c.kind, c.issue.fingerprint) for c in changes] == [("new", "f1")]
    issue = repo.get("f1")
    assert issue is not None
    assert (issue.count, issue.first_seen_ns, issue.last_seen_ns) == (3, 10, 30)
    assert issue.services == ("checkout", "payments") and issue.endpoints == ("/api/checkout", "/charge")
    assert issue.trace_ids == ("t30", "t20", "t10") and issue.status == "open"
    assert repo.get("nope") is None


def test_sample_traces_keep_the_most_recent(repo: IssueRepository) -> None:
    repo.record([occ(t) for t in range(1, 26)])
    issue = repo.get("f1")
    assert issue is not None and issue.count == 25
    assert issue.trace_ids == tuple(f"t{t}" for t in range(25, 25 - SAMPLE_TRACES, -1))


def test_resolved_issue_regresses_on_a_later_occurrence(repo: IssueRepository) -> None:
    repo.record([occ(10)])
    resolved = repo.set_status("f1", "resolved", 100)
    assert resolved is not None and resolved.resolved_at_ns == 100
    assert repo.record([occ(50)]) == []  # older than the resolution (ingest lag): no regression
    assert repo.get("f1").status == "resolved"  # type: ignore[union-attr]
    changes = repo.record([occ(150)])
    assert [c.kind for c in changes] == ["regressed"]
    issue = repo.get("f1")
    assert issue is not None
    assert (issue.status, issue.regressed_at_ns, issue.regressions, issue.count) == ("open", 150, 1, 3)


def test_ignored_stays_ignored_and_bad_status_refused(repo: IssueRepository) -> None:
    repo.record([occ(10)])
    repo.set_status("f1", "ignored", 20)
    assert repo.record([occ(30)]) == []
    issue = repo.get("f1")
    assert issue is not None and (issue.status, issue.count) == ("ignored", 2)
    with pytest.raises(ValueError, match="status"):
        repo.set_status("f1", "closed", 40)
    assert repo.set_status("unknown", "open", 40) is None


def test_all_most_recent_first(repo: IssueRepository) -> None:
    repo.record([occ(10, fp="old"), occ(90, fp="new")])
    assert [i.fingerprint for i in repo.all()] == ["new", "old"]
