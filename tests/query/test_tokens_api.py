"""``/api/tokens`` over HTTP: admin-only, create shows the secret once, revoke, errors, audit entries."""

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
def store() -> InMemoryMetadataStore:
    return InMemoryMetadataStore()


@pytest.fixture
def client(store: InMemoryMetadataStore) -> Iterator[TestClient[Any]]:
    app = build_app(InMemoryReader(), lambda: {"status": "ok", "components": {}}, metadata=store, auth=True)
    with TestClient(app) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_admin_creates_lists_and_revokes(client: TestClient[Any], store: InMemoryMetadataStore) -> None:
    admin = store.tokens.create("root", Role.ADMIN).token
    made = client.post("/api/tokens", json={"name": "grafana", "role": "viewer"}, headers=bearer(admin))
    assert made.status_code == 201, made.text
    secret, record = made.json()["token"], made.json()["record"]
    assert secret.startswith("vgl_") and record["hint"] == secret[:8] and record["role"] == "viewer"
    assert client.get("/api/traces", headers=bearer(secret)).status_code == 200  # the new token works
    listed = client.get("/api/tokens", headers=bearer(admin)).json()["tokens"]
    assert [t["name"] for t in listed] == ["grafana", "root"] and all("token" not in t for t in listed)
    assert secret not in str(listed)
    gone = client.delete("/api/tokens/grafana", headers=bearer(admin))
    assert gone.status_code == 200 and gone.json()["active"] is False
    assert client.get("/api/traces", headers=bearer(secret)).status_code == 401
    assert client.delete("/api/tokens/grafana", headers=bearer(admin)).status_code == 404
    actions = [(e.action, e.actor.split(" ")[0]) for e in store.audit.query()]
    assert sorted(actions) == [("token.create", "root"), ("token.revoke", "root")]


def test_only_admins(client: TestClient[Any], store: InMemoryMetadataStore) -> None:
    for role in (Role.VIEWER, Role.EDITOR):
        token = store.tokens.create(f"t-{role.value}", role).token
        assert client.get("/api/tokens", headers=bearer(token)).status_code == 403
        assert client.post("/api/tokens", json={"name": "x", "role": "admin"}, headers=bearer(token)).status_code == 403
    assert client.get("/api/tokens").status_code == 401
    assert store.audit.query() == []


@pytest.mark.parametrize(("body", "parameter"), [
    ({"name": "a", "role": "root"}, "role"), ({"name": "", "role": "viewer"}, "name"),
    ({"name": "x" * 101, "role": "viewer"}, "name"), ({"role": "viewer"}, "name"),
    ({"name": "a\nb", "role": "viewer"}, "name"), ({"name": "a", "role": 3}, "role")])
def test_bad_bodies_name_the_field(client: TestClient[Any], store: InMemoryMetadataStore,
                                   body: dict[str, Any], parameter: str) -> None:
    admin = store.tokens.create("root", Role.ADMIN).token
    r = client.post("/api/tokens", json=body, headers=bearer(admin))
    assert r.status_code == 400 and parameter in r.text, r.text
    assert [t.name for t in store.tokens.list()] == ["root"]


def test_duplicate_name_conflicts(client: TestClient[Any], store: InMemoryMetadataStore) -> None:
    admin = store.tokens.create("root", Role.ADMIN).token
    r = client.post("/api/tokens", json={"name": "root", "role": "viewer"}, headers=bearer(admin))
    assert r.status_code == 409 and "name" in r.text
    assert client.post("/api/tokens", content=b"{not json", headers=bearer(admin)).status_code == 400
