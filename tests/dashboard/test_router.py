"""dashboard.router: the dashboard's own static router, mounted by the query API's build_app."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from contracts.reader import InMemoryReader
from dashboard.router import STATIC_DIR, static_router
from query.api import build_app


def test_router_serves_the_static_files() -> None:
    with TestClient(Litestar(route_handlers=[static_router()])) as c:
        index = c.get("/")
        assert index.status_code == 200 and "<title>Vigil</title>" in index.text
        assert c.get("/app.js").text == (STATIC_DIR / "app.js").read_text()


def test_index_references_only_local_files() -> None:
    with TestClient(Litestar(route_handlers=[static_router()])) as c:
        page = c.get("/").text
        for ref in re.findall(r"""(?:src|href)=["']([^"']+)["']""", page):
            assert ref.startswith("/") and not ref.startswith("//"), ref


def test_build_app_mounts_it_next_to_the_api() -> None:
    def health() -> dict[str, Any]:
        return {"status": "ok", "components": {}}

    app = build_app(InMemoryReader(), health, dashboard=static_router())
    with TestClient(app) as c:
        assert "<title>Vigil</title>" in c.get("/").text
        assert c.get("/api/services").json()["services"] == []
        assert c.get("/schema").status_code == 200
        assert c.get("/api/nope").status_code == 404
        assert "/" not in c.get("/schema/openapi.json").json()["paths"]  # static files stay out of the schema
