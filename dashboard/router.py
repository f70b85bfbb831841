"""The dashboard's Litestar router: its static files at ``/`` (``index.html`` for ``/``).

The composition root mounts it next to the query API (``build_app(..., extra_routes=[static_router()])``);
the dashboard itself only calls ``/api/*`` over HTTP.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.static_files import create_static_files_router

STATIC_DIR = Path(__file__).resolve().parent / "static"


def static_router(path: str = "/") -> Router:
    """A router serving :data:`STATIC_DIR` at ``path`` in HTML mode, left out of the OpenAPI document."""
    return create_static_files_router(path=path, directories=[STATIC_DIR], html_mode=True, include_in_schema=False,
                                      name="dashboard")
