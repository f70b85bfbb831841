"""dashboard.router: the dashboard's own static router, mounted by the query API's build_app."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from contracts.reader import InMemoryReader
from dashboard.router import CONTENT_SECURITY_POLICY, STATIC_DIR, static_router
from query.api import build_app

SCRIPTS = sorted(p for p in STATIC_DIR.rglob("*.js") if "vendor" not in p.parts)
STRICT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def _health() -> dict[str, Any]:
    return {"status": "ok", "components": {}}


def test_router_serves_the_static_files() -> None:
    with TestClient(Litestar(route_handlers=[static_router()])) as c:
        index = c.get("/")
        assert index.status_code == 200 and "<title>Vigil</title>" in index.text
        assert c.get("/js/main.js").text == (STATIC_DIR / "js" / "main.js").read_text()
        assert c.get("/js/main.js").headers["content-type"].startswith(("text/javascript", "application/javascript"))
        assert c.get("/css/app.css").headers["content-type"].startswith("text/css")
        assert c.get("/app.js").text == (STATIC_DIR / "app.js").read_text()


def test_index_references_only_local_files() -> None:
    with TestClient(Litestar(route_handlers=[static_router()])) as c:
        page = c.get("/").text
        refs = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)
        for ref in refs:
            assert ref.startswith(("/", "#/")) and not ref.startswith("//"), ref
            if ref.startswith("/") and ref != "/schema":
                assert c.get(ref).status_code == 200, ref
        assert '<script type="module" src="/js/main.js"></script>' in page


def test_index_preloads_every_module() -> None:
    page = (STATIC_DIR / "index.html").read_text()
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/([^"]+)">', page))
    modules = {p.relative_to(STATIC_DIR).as_posix() for p in (STATIC_DIR / "js").rglob("*.js")} - {"js/main.js"}
    modules.add("app.js")  # the first-run hint, imported by main.js and the overview
    assert preloaded == modules  # a new module is fetched with the others, not after its importer


def test_index_has_no_inline_script_style_or_meta_policy() -> None:
    page = (STATIC_DIR / "index.html").read_text()
    assert "<style" not in page and " style=" not in page
    assert "http-equiv" not in page.lower()
    assert not re.search(r"<script(?![^>]*\bsrc=)", page), "inline <script>"
    assert not re.search(r"\son[a-z]+=", page), "inline event handler"
    assert 'id="empty"' in page and "OTEL_SERVICE_NAME" in page  # the first-run hint


@pytest.mark.parametrize("path", ["/", "/index.html", "/js/main.js", "/css/app.css", "/vendor/uPlot.iife.min.js",
                                  "/no/such/file.js"])
def test_every_response_carries_the_security_headers(path: str) -> None:
    assert CONTENT_SECURITY_POLICY == STRICT_CSP
    with TestClient(Litestar(route_handlers=[static_router()])) as c:
        resp = c.get(path)
        assert resp.headers["content-security-policy"] == STRICT_CSP
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.status_code == (404 if "no/such" in path else 200)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(STATIC_DIR)))
def test_scripts_never_parse_html(script: Path) -> None:
    text = script.read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                 "javascript:"):
        assert sink not in text, f"{script.name} uses {sink}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(STATIC_DIR)))
def test_module_imports_resolve(script: Path) -> None:
    for spec in re.findall(r"""^import .*? from ["']([^"']+)["'];""", script.read_text(), flags=re.M):
        target = STATIC_DIR / spec.lstrip("/") if spec.startswith("/") else (script.parent / spec).resolve()
        assert target.is_file(), f"{script.name} imports missing {spec}"


def test_build_app_mounts_it_next_to_the_api() -> None:
    app = build_app(InMemoryReader(), _health, dashboard=static_router())
    with TestClient(app) as c:
        index = c.get("/")
        assert "<title>Vigil</title>" in index.text
        assert index.headers["content-security-policy"] == STRICT_CSP
        assert c.get("/api/services").json()["services"] == []
        assert c.get("/schema").status_code == 200
        assert c.get("/api/nope").status_code == 404
        assert "/" not in c.get("/schema/openapi.json").json()["paths"]  # static files stay out of the schema
