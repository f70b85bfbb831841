"""query.session + the cookie path of query.auth: sign in with a token, cookie-authenticated reads,
same-origin-only state changes and WebSockets, sign out, revoked tokens, auth off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from contracts.access import Role
from contracts.metadata import InMemoryMetadataStore
from contracts.reader import InMemoryReader
from query.api import build_app
from query.auth import SESSION_COOKIE
from tests.query.test_auth import ROUTES

BASE = "http://testserver.local"


@pytest.fixture
def store() -> InMemoryMetadataStore:
    return InMemoryMetadataStore()


def _client(store: InMemoryMetadataStore, auth: bool) -> TestClient[Any]:
    app = build_app(InMemoryReader(), lambda: {"status": "ok", "components": {}}, extra_routes=ROUTES,
                    metadata=store, auth=auth)
    return TestClient(app, base_url=BASE)


def _who(c: TestClient[Any]) -> dict[str, Any]:
    body: dict[str, Any] = c.get("/api/session").json()
    assert body.pop("meta")["data_complete"] is True
    return body


@pytest.fixture
def client(store: InMemoryMetadataStore) -> Iterator[TestClient[Any]]:
    with _client(store, True) as c:
        yield c


def test_sign_in_sets_an_httponly_strict_cookie_and_whoami(client: TestClient[Any],
                                                           store: InMemoryMetadataStore) -> None:
    token = store.tokens.create("alice", Role.EDITOR).token
    assert _who(client) == {"auth": "required", "signed_in": False, "name": None, "role": None}
    resp = client.post("/api/session", json={"token": token})
    assert resp.status_code == 200 and resp.json() == {"auth": "required", "signed_in": True, "name": "alice",
                                                       "role": "editor"}
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert "Secure" not in cookie  # plain HTTP; over HTTPS it is Secure
    assert client.get("/api/session").json()["name"] == "alice"
    assert client.get("/api/test/things").json() == {"who": "alice"}  # the cookie authenticates reads
    assert client.patch("/api/test/things/a", headers={"Origin": BASE}).status_code == 200  # same origin
    assert client.patch("/api/test/things/a").status_code == 200  # no Origin: not a cross-site browser request
    out = client.delete("/api/session")
    assert out.status_code == 200 and "Max-Age=0" in out.headers["set-cookie"]
    client.cookies.clear()
    assert client.get("/api/test/things").status_code == 401


def test_cross_site_requests_cannot_ride_on_the_cookie(client: TestClient[Any], store: InMemoryMetadataStore) -> None:
    token = store.tokens.create("bob", Role.ADMIN).token
    client.post("/api/session", json={"token": token})
    evil = {"Origin": "https://evil.example"}
    refused = client.patch("/api/test/things/a", headers=evil)
    assert refused.status_code == 403 and "cross-site" in refused.json()["error"]
    assert client.get("/api/test/things", headers=evil).status_code == 200  # reads are not state changes
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws-test", headers=evil):
        pass
    with client.websocket_connect("/ws-test", headers={"Origin": BASE}) as ws:
        assert ws.receive_json() == {"hello": "ws"}  # accepted (the route answers a constant)
    assert client.post("/api/session", json={"token": token}, headers=evil).status_code == 403


def test_the_cookie_keeps_the_tokens_role_and_dies_with_it(client: TestClient[Any],
                                                           store: InMemoryMetadataStore) -> None:
    issued = store.tokens.create("viewer", Role.VIEWER)
    client.post("/api/session", json={"token": issued.token})
    assert client.patch("/api/test/things/a", headers={"Origin": BASE}).status_code == 403
    store.tokens.revoke(issued.record.id)
    assert client.get("/api/test/things").status_code == 401
    assert client.get("/api/session").json()["signed_in"] is False


@pytest.mark.parametrize("body, status", [({"token": "vgl_nope"}, 401), ({"token": "nope"}, 401),
                                          ({"token": ""}, 400), ({}, 400), ({"token": 5}, 400)])
def test_bad_sign_ins(client: TestClient[Any], body: dict[str, Any], status: int) -> None:
    resp = client.post("/api/session", json=body)
    assert resp.status_code == status and "set-cookie" not in resp.headers
    if status == 400:
        assert "token" in resp.json()["error"]


def test_auth_off_everyone_is_admin(store: InMemoryMetadataStore) -> None:
    with _client(store, False) as c:
        assert _who(c) == {"auth": "off", "signed_in": True, "name": "anonymous",
                                                "role": "admin"}
