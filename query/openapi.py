"""The OpenAPI document and its UI, served offline.

``/schema/openapi.json`` documents every ``/api/*`` operation with its typed response, the
``Vigil-Data-Complete`` header and the error body actually sent (:class:`~query.models.ErrorBody`).
``/schema`` and ``/schema/swagger`` render Swagger UI from assets vendored in ``query/static/swagger-ui``
(swagger-ui-dist 5.18.2, Apache-2.0), so the page works without internet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar.datastructures import ResponseHeader
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Tag
from litestar.static_files import create_static_files_router

from query.freshness import HEADER
from query.models import ErrorBody

ASSETS_DIR = Path(__file__).resolve().parent / "static" / "swagger-ui"
ASSETS_PATH = "/schema/assets"
SCHEMA_PATH = "/schema"

FRESHNESS_HEADER = ResponseHeader(
    name=HEADER,
    documentation_only=True,
    description="`true` when everything ingest acknowledged before the request was visible to this read; "
    "else `false` (the body's `meta` has the backlog, null when this process cannot see ingest).",
)


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)


BAD_REQUEST = _error("A parameter is malformed: `error` says why and `detail.parameter` names it")
NOT_FOUND = _error("Nothing matches (`detail` is null)")
INTERNAL = _error("Internal error (`detail` names the exception type, never its message)")
RESPONSES: dict[int, ResponseSpec] = {400: BAD_REQUEST, 500: INTERNAL}
RESPONSES_404: dict[int, ResponseSpec] = {**RESPONSES, 404: NOT_FOUND}


class LocalSwagger(SwaggerRenderPlugin):
    """Swagger UI from the vendored assets; no request leaves the page (no validator badge)."""

    def __init__(self, path: str | list[str]) -> None:
        """Serve at ``path`` under the schema path."""
        super().__init__(
            js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_PATH}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
            path=path,
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """Litestar's page, with the online validator switched off."""
        page = super().render(request, openapi_schema)
        return page.replace(b"deepLinking: true,", b"deepLinking: true,\n                  validatorUrl: null,", 1)


def assets_router() -> Router:
    """The static router for the UI's assets."""
    return create_static_files_router(path=ASSETS_PATH, directories=[ASSETS_DIR], include_in_schema=False,
                                      name="openapi-assets")


def openapi_config(version: str = "0.1.0") -> OpenAPIConfig:
    """The OpenAPI document's config: title, tags, offline UI at ``/schema`` and ``/schema/swagger``."""
    return OpenAPIConfig(
        title="Vigil query API",
        version=version,
        description="Read traces, logs and metrics stored by Vigil. Times are unix nanoseconds unless named "
        "`*_seconds`; `range`/`step` are Prometheus durations (`15m`, `1h30m`, `500ms`). Every answer carries "
        f"`meta` and the `{HEADER}` header (freshness); every error is `{{error, detail}}`.",
        path=SCHEMA_PATH,
        render_plugins=[LocalSwagger(path=["/", "/swagger"])],
        tags=[Tag(name="traces"), Tag(name="logs"), Tag(name="metrics"), Tag(name="services"),
              Tag(name="health")],
    )
