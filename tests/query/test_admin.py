"""GET /api/audit: admins read the trail; other roles are refused; filters and bad parameters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from contracts.access import Role
from contracts.metadata import InMemoryMetadataStore
from contracts.reader import InMemoryReader
from query.api import build_app


@pytest.fixture
def setup() -> Iterator[tuple[TestClient[Any], dict[str, str], InMemoryMetadataStore]]:
    store = InMemoryMetadataStore()
    tokens = {role.value: store.tokens.create(f"t-{role.value}", role).token for role in Role}
    store.audit.record("cli:ops", "token.create", "a1", {"name": "t-viewer"})
    store.audit.record("t-editor (x)", "error.status", "fp1", {"status": "resolved"})
    app = build_app(InMemoryReader(), lambda: {"status": "ok", "components": {}}, metadata=store, auth=True)
    with TestClient(app) as client:
        yield client, tokens, store


def _get(client: TestClient[Any], token: str | None, **params: Any) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return client.get("/api/audit", params=params, headers=headers)


def test_only_admins_read_the_audit_trail(setup: Any) -> None:
    client, tokens, _ = setup
    assert _get(client, None).status_code == 401
    assert _get(client, tokens["viewer"]).status_code == 403
    assert _get(client, tokens["editor"]).status_code == 403
    answer = _get(client, tokens["admin"])
    assert answer.status_code == 200
    assert [(e["actor"], e["action"], e["target"]) for e in answer.json()["entries"]] == [
        ("t-editor (x)", "error.status", "fp1"), ("cli:ops", "token.create", "a1")]


def test_filters_and_limit(setup: Any) -> None:
    client, tokens, _ = setup
    admin = tokens["admin"]
    only = _get(client, admin, action="token.create").json()["entries"]
    assert [e["details"] for e in only] == [{"name": "t-viewer"}]
    assert len(_get(client, admin, limit=1).json()["entries"]) == 1
    assert _get(client, admin, actor="nobody").json()["entries"] == []
    assert _get(client, admin, start="2000-01-01T00:00:00Z", end="2001-01-01T00:00:00Z").json()["entries"] == []


@pytest.mark.parametrize(("params", "parameter"), [
    ({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"start": "yesterday"}, "start"),
    ({"start": "1700000100", "end": "1700000000"}, "start"),
])
def test_bad_parameters_name_themselves(setup: Any, params: dict[str, Any], parameter: str) -> None:
    client, tokens, _ = setup
    answer = _get(client, tokens["admin"], **params)
    assert answer.status_code == 400
    assert answer.json()["detail"]["parameter"] == parameter
