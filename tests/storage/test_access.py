"""contracts.access repositories: PostgreSQL (real server, throwaway database) and in-memory, one contract."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from contracts.access import TOKEN_PREFIX, Role, TokenExists, hash_token
from contracts.metadata import InMemoryMetadataStore
from storage.postgres.store import PostgresMetadataStore
from tests.pg import throwaway_database


@pytest.fixture(params=["postgres", "memory"])
def store(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "memory":
        yield InMemoryMetadataStore()
        return
    with throwaway_database("vigil_access_test") as url:
        pg = PostgresMetadataStore(url)
        assert 3 in pg.migrate("test")
        yield pg


def test_token_lifecycle(store: Any) -> None:
    assert store.tokens.has_admin() is False
    issued = store.tokens.create("ci", Role.EDITOR)
    assert issued.token.startswith(TOKEN_PREFIX) and len(issued.token) == len(TOKEN_PREFIX) + 43
    assert issued.record.hint == issued.token[:8] and issued.record.role is Role.EDITOR
    found = store.tokens.authenticate(issued.token)
    assert found is not None and found.id == issued.record.id and found.last_used_at is not None
    assert store.tokens.authenticate(issued.token + "x") is None
    with pytest.raises(TokenExists):
        store.tokens.create("ci", Role.VIEWER)
    admin = store.tokens.create("root", Role.ADMIN)
    assert store.tokens.has_admin() is True
    assert [t.name for t in store.tokens.list()] == ["ci", "root"]
    assert store.tokens.revoke(admin.record.id).name == "root"  # by id
    assert store.tokens.has_admin() is False
    assert store.tokens.revoke("ci").revoked_at is not None  # by name
    assert store.tokens.revoke("ci") is None
    assert store.tokens.authenticate(issued.token) is None
    assert store.tokens.create("ci", Role.VIEWER).record.active  # the name is free again
    assert [t.active for t in store.tokens.list()] == [False, False, True]


def test_only_the_hash_is_stored(store: Any) -> None:
    if not isinstance(store, PostgresMetadataStore):
        pytest.skip("PostgreSQL storage only")
    issued = store.tokens.create("x", Role.VIEWER)
    with store.connection() as conn:
        rows = conn.execute("SELECT * FROM vigil_api_tokens").fetchall()
    assert issued.token not in repr(rows)
    assert hash_token(issued.token) in repr(rows)


def test_last_used_is_throttled(store: Any) -> None:
    issued = store.tokens.create("x", Role.VIEWER)
    first = store.tokens.authenticate(issued.token).last_used_at
    assert store.tokens.authenticate(issued.token).last_used_at == first
    assert [t.last_used_at for t in store.tokens.list()] == [first]


def test_audit_filters(store: Any) -> None:
    a = store.audit.record("root (1)", "token.create", "ci", {"role": "viewer"})
    store.audit.record("root (1)", "token.revoke", "ci")
    store.audit.record("ed (2)", "error.status", "fp1", {"to": "resolved"})
    assert [e.action for e in store.audit.query()] == ["error.status", "token.revoke", "token.create"]
    assert [e.target for e in store.audit.query(actor="ed (2)")] == ["fp1"]
    [entry] = store.audit.query(action="token.create")
    assert (entry.actor, entry.details, entry.at) == ("root (1)", {"role": "viewer"}, a.at)
    assert len(store.audit.query(limit=2)) == 2
    assert store.audit.query(start=a.at + timedelta(days=1)) == []
    assert len(store.audit.query(end=a.at)) == 1
