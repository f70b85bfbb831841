"""The OpenAPI document: a real schema for every ``/api/*`` answer and error, and an offline UI."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from litestar.testing import TestClient

from contracts.reader import InMemoryReader
from query.api import build_app

NOT_FOUND_OPS = {"/api/traces/{trace_id}", "/api/services/{name}", "/api/errors/{fingerprint}",
                 "/api/metrics/query", "/api/metrics/points"}
SUMMARIES = {
    "/api/health": "Component health",
    "/api/traces/{trace_id}": "Get one trace by id",
    "/api/traces": "Search traces",
    "/api/logs": "Search logs",
    "/api/services": "Service overview",
    "/api/metrics/names": "List metrics",
    "/api/metrics/query": "Query a metric's series",
    "/api/metrics/points": "Raw data points of a metric",
    "/api/metrics/api": "API performance",
    "/api/metrics/api/top-endpoints": "Top endpoints",
    "/api/metrics/api/slow-requests": "Slow requests",
    "/api/metrics/database/slow-queries": "Slow queries",
    "/api/metrics/database": "Database performance",
    "/api/metrics/database/connection-stats": "Connection pools",
    "/api/audit": "Audit trail (admin)",
    "/api/tokens": "List API tokens (admin)",
    "/api/session": "Who is signed in",
    "/api/services/{name}": "One service",
    "/api/service-map": "Service map",
    "/api/insights/performance": "Performance insights",
    "/api/metrics/system": "System metrics",
    "/api/logs/volume": "Log volume",
    "/api/metrics/errors": "Errors",
    "/api/metrics/errors/trends": "Error trends",
    "/api/metrics/errors/critical": "Critical errors",
    "/api/errors/{fingerprint}": "One error issue",
    "/api/dashboard": "Dashboard overview",
    "/api/metrics/frontend": "Frontend Web Vitals",
    "/api/metrics/frontend/pages": "Frontend pages",
}


@pytest.fixture
def client() -> Iterator[TestClient[Any]]:
    with TestClient(build_app(InMemoryReader(), lambda: {"status": "ok", "components": {}})) as c:
        yield c


@pytest.fixture
def doc(client: TestClient[Any]) -> dict[str, Any]:
    resp = client.get("/schema/openapi.json")
    assert resp.status_code == 200
    return resp.json()  # type: ignore[no-any-return]


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = doc["components"]["schemas"][name]
    return schema


def _json_schema(doc: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    return _resolve(doc, response["content"]["application/json"]["schema"])


PROMETHEUS_PATHS = {"/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels",
                    "/api/v1/label/{name}/values"}


def _api_gets(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    # /api/v1/* is the Prometheus HTTP API: Prometheus' own JSON (no meta, no freshness header, its own
    # error body), so Vigil's generic checks below do not apply to it; test_prometheus_api_is_documented does.
    return [(path, item["get"]) for path, item in doc["paths"].items()
            if path.startswith("/api/") and not path.startswith("/api/v1/") and "get" in item]


def test_prometheus_api_is_documented(doc: dict[str, Any]) -> None:
    documented = {path: item for path, item in doc["paths"].items() if path.startswith("/api/v1/")}
    assert set(documented) == PROMETHEUS_PATHS
    for path, item in documented.items():
        methods = {"get"} if path.endswith("/values") else {"get", "post"}
        assert methods <= set(item), path
        for method in methods:
            assert item[method]["summary"] and "application/json" in item[method]["responses"]["200"]["content"]


def test_every_api_get_is_documented(doc: dict[str, Any]) -> None:
    assert {path for path, _ in _api_gets(doc)} == set(SUMMARIES)


def test_every_api_get_has_a_typed_200_with_meta_and_freshness_header(doc: dict[str, Any]) -> None:
    for path, op in _api_gets(doc):
        ok = op["responses"]["200"]
        schema = _json_schema(doc, ok)
        assert schema.get("type") == "object" and schema["properties"], path
        meta = _resolve(doc, schema["properties"]["meta"])
        assert set(meta["properties"]) == {"data_complete", "ingest_backlog_records", "ingest_lag_seconds"}, path
        assert "Vigil-Data-Complete" in ok["headers"], path
        assert op["summary"] == SUMMARIES[path]


def _assert_error_body(doc: dict[str, Any], response: dict[str, Any], where: str) -> None:
    schema = _json_schema(doc, response)
    assert set(schema["properties"]) == {"error", "detail"}, where
    assert schema["properties"]["error"]["type"] == "string", where
    assert "status_code" not in schema["properties"], where  # Litestar's own body is not what is sent


def test_errors_are_documented_with_the_body_actually_sent(doc: dict[str, Any]) -> None:
    for path, op in _api_gets(doc):
        if op.get("parameters"):  # /api/health takes none: nothing to be malformed
            _assert_error_body(doc, op["responses"]["400"], f"{path} 400")
            detail = op["responses"]["400"]["content"]["application/json"]["schema"]
            alternatives = _resolve(doc, detail)["properties"]["detail"]["oneOf"]
            refs = [_resolve(doc, a) for a in alternatives if "$ref" in a]
            assert any(set(r.get("properties", {})) == {"parameter"} for r in refs), path
        if path in NOT_FOUND_OPS:
            _assert_error_body(doc, op["responses"]["404"], f"{path} 404")
        else:
            assert "404" not in op["responses"], path


def test_closed_sets_are_enums(doc: dict[str, Any]) -> None:
    def param(path: str, name: str) -> dict[str, Any]:
        [p] = [p for p in doc["paths"][path]["get"]["parameters"] if p["name"] == name]
        schema = p["schema"]
        options = [_resolve(doc, s) for s in schema.get("oneOf", schema.get("allOf", [schema]))]
        [enum] = [o["enum"] for o in options if "enum" in o]
        return {"enum": enum}

    assert set(param("/api/traces", "status")["enum"]) == {"error", "ok", "unset"}
    assert "p95" in param("/api/metrics/query", "agg")["enum"]
    series = _json_schema(doc, doc["paths"]["/api/metrics/query"]["get"]["responses"]["200"])
    assert "histogram" in _resolve(doc, series["properties"]["type"])["enum"]
    health = _json_schema(doc, doc["paths"]["/api/health"]["get"]["responses"]["200"])
    assert set(health["properties"]["status"]["enum"]) == {"ok", "degraded"}


_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
def test_openapi_ui_loads_only_local_assets(client: TestClient[Any], page: str) -> None:
    resp = client.get(page)
    assert resp.status_code == 200 and "SwaggerUIBundle" in resp.text
    references = _REFERENCE.findall(resp.text)
    assert len(references) >= 3  # stylesheet, bundle, preset
    for ref in references:
        url = urlparse(ref)
        assert not url.scheme and not url.netloc, f"{page} loads {ref} from another host"
        asset = client.get(ref)
        assert asset.status_code == 200 and asset.content, ref
    assert "http://" not in resp.text.split("<body>")[0] and "https://" not in resp.text.split("<body>")[0]
    assert "validatorUrl: null" in resp.text  # the online validator badge would call out


def test_vendored_assets_keep_their_licence() -> None:
    from query.openapi import ASSETS_DIR

    assert "Apache License" in (ASSETS_DIR / "LICENSE").read_text()
    assert "5.18.2" in (ASSETS_DIR / "VERSION").read_text()
