"""query.auth through build_app: role boundaries, 401/403 answers, open paths, WebSocket forms, audit hook."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Request, Router, get, patch, websocket
from litestar import WebSocket as LitestarWebSocket
from litestar.exceptions import WebSocketDisconnect
from litestar.response import Response
from litestar.testing import TestClient

from contracts.access import Role
from contracts.metadata import InMemoryMetadataStore
from contracts.reader import InMemoryReader
from query.api import build_app
from query.auth import Auditor, auth_required, principal, required_role


@get("/api/test/things", sync_to_thread=False)
def read_things(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {"who": principal(request).name}


@patch("/api/test/things/{key:str}", sync_to_thread=True)
def change_thing(key: str, request: Request[Any, Any, Any], audit: Auditor) -> dict[str, str]:
    audit(request, "thing.change", key, {"to": "x"})
    return {"changed": key}


@get("/api/tokens/probe", sync_to_thread=False)
def admin_probe() -> dict[str, bool]:
    return {"ok": True}


@websocket("/ws-test")
async def ws_test(socket: LitestarWebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    await socket.send_json({"hello": principal(socket).name if isinstance(socket, Request) else "ws"})
    await socket.close()


@get("/index.html", sync_to_thread=False)
def page() -> Response[str]:
    return Response("<html>dashboard</html>", media_type="text/html")


ROUTES = [read_things, change_thing, admin_probe, ws_test]


@pytest.fixture
def store() -> InMemoryMetadataStore:
    return InMemoryMetadataStore()


@pytest.fixture
def client(store: InMemoryMetadataStore) -> Iterator[TestClient[Any]]:
    app = build_app(InMemoryReader(), lambda: {"status": "ok", "components": {}}, extra_routes=ROUTES,
                    metadata=store, auth=True, dashboard=Router(path="/", route_handlers=[page]))
    with TestClient(app) as c:
        yield c


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(store: InMemoryMetadataStore) -> dict[Role, str]:
    return {role: store.tokens.create(f"t-{role.value}", role).token for role in Role}


def test_role_boundaries(client: TestClient[Any], tokens: dict[Role, str]) -> None:
    for role, token in tokens.items():
        assert client.get("/api/test/things", headers=_bearer(token)).json() == {"who": f"t-{role.value}"}
        changed = client.patch("/api/test/things/a", headers=_bearer(token))
        assert changed.status_code == (403 if role is Role.VIEWER else 200), changed.text
        admin = client.get("/api/tokens/probe", headers=_bearer(token))
        assert admin.status_code == (200 if role is Role.ADMIN else 403), admin.text
    refused = client.patch("/api/test/things/a", headers=_bearer(tokens[Role.VIEWER]))
    assert refused.json() == {"error": "this needs role editor; token 't-viewer' has role viewer",
                              "detail": "editor"}
    assert client.get("/api/tokens/probe", headers=_bearer(tokens[Role.EDITOR])).json()["detail"] == "admin"


@pytest.mark.parametrize("headers, invalid", [
    ({}, False),
    ({"Authorization": "Basic dXNlcjpwdw=="}, True),
    ({"Authorization": "Bearer"}, True),
    ({"Authorization": "Bearer not-a-vigil-token"}, True),
    ({"Authorization": "Bearer vgl_unknownunknownunknown"}, True),
])
def test_missing_malformed_invalid_tokens_get_401(client: TestClient[Any], headers: dict[str, str],
                                                   invalid: bool) -> None:
    resp = client.get("/api/test/things", headers=headers)
    assert resp.status_code == 401
    challenge = resp.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert ('error="invalid_token"' in challenge) is invalid
    assert set(resp.json()) == {"error", "detail"}


def test_revoked_token_gets_401(client: TestClient[Any], store: InMemoryMetadataStore) -> None:
    issued = store.tokens.create("ci", Role.ADMIN)
    assert client.get("/api/test/things", headers=_bearer(issued.token)).status_code == 200
    assert store.tokens.revoke("ci") is not None
    resp = client.get("/api/test/things", headers=_bearer(issued.token))
    assert resp.status_code == 401 and resp.json()["error"] == "invalid or revoked token"


def test_open_paths_need_no_token(client: TestClient[Any]) -> None:
    assert client.get("/api/health").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.get("/schema/openapi.json").status_code == 200
    assert client.get("/index.html").text == "<html>dashboard</html>"
    assert client.get("/api/traces").status_code == 401  # a real data endpoint is not open


def test_state_change_is_audited_with_the_token(client: TestClient[Any], store: InMemoryMetadataStore,
                                               tokens: dict[Role, str]) -> None:
    client.patch("/api/test/things/k1", headers=_bearer(tokens[Role.EDITOR]))
    [entry] = store.audit.query(action="thing.change")
    editor = next(t for t in store.tokens.list() if t.name == "t-editor")
    assert (entry.actor, entry.target, entry.details) == (f"t-editor ({editor.id})", "k1", {"to": "x"})


def test_websocket_token_forms(client: TestClient[Any], tokens: dict[Role, str]) -> None:
    token = tokens[Role.VIEWER]
    with client.websocket_connect("/ws-test", headers=_bearer(token)) as ws:
        assert ws.receive_json() == {"hello": "ws"}
    with client.websocket_connect(f"/ws-test?token={token}") as ws:
        assert ws.receive_json() == {"hello": "ws"}
    with client.websocket_connect("/ws-test", subprotocols=["vigil.bearer", token]) as ws:
        assert ws.accepted_subprotocol == "vigil.bearer"
        assert ws.receive_json() == {"hello": "ws"}
    for bad in ({}, {"headers": _bearer("vgl_nope")}):
        with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/ws-test", **bad) as ws:
            ws.receive_json()
        assert refused.value.code == 4401


def test_auth_off_everyone_is_admin(store: InMemoryMetadataStore) -> None:
    app = build_app(InMemoryReader(), lambda: {"status": "ok", "components": {}}, extra_routes=ROUTES,
                    metadata=store)
    with TestClient(app) as c:
        assert c.get("/api/tokens/probe").status_code == 200
        assert c.patch("/api/test/things/z").status_code == 200
    assert store.audit.query()[0].actor == "anonymous"


def test_decisions() -> None:
    assert auth_required("off", "127.0.0.1") is False
    assert auth_required("off", "localhost") is False
    assert auth_required("off", "::1") is False
    assert auth_required("required", "127.0.0.1") is True
    assert auth_required("off", "0.0.0.0") is True
    assert auth_required("off", "192.168.1.4") is True
    assert required_role("GET", "/api/traces") is Role.VIEWER
    assert required_role("PATCH", "/api/errors/abc") is Role.EDITOR
    assert required_role("POST", "/api/tokens") is Role.ADMIN
    assert required_role("GET", "/api/audit") is Role.ADMIN
    assert required_role("GET", "/api/tokenser") is Role.VIEWER
