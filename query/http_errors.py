"""Exception handlers: every error answer is :class:`~query.models.ErrorBody` (``{error, detail}``).

A 400 names the offending parameter twice: as the message's prefix (``range: 'bogus' is not a
duration; …``) and as ``detail.parameter``. A 404's ``detail`` is null; a 500's is the exception type
name (never its message, which may hold secrets).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.types import ExceptionHandlersMap

from query.errors import BadRequest, NotFound
from query.models import Agg, ErrorBody, ParameterDetail, TraceStatus

log = logging.getLogger(__name__)
_MISSING = re.compile(r"Missing required (\w+) parameter '([^']+)'")
_CHOICES = {"status": TraceStatus, "agg": Agg}


def _error(status: int, error: str, detail: ParameterDetail | str | None = None) -> Response[ErrorBody]:
    return Response(ErrorBody(error=error, detail=detail), status_code=status)


def _on_bad_request(_: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    parameter = exc.parameter if isinstance(exc, BadRequest) else None
    return _error(400, str(exc), ParameterDetail(parameter=parameter) if parameter else None)


def _on_not_found(_: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    return _error(404, str(exc) if isinstance(exc, NotFound) else "not found")


def _on_validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[ErrorBody]:
    problems = [p for p in exc.extra if isinstance(p, dict)] if isinstance(exc.extra, list) else []
    named = [(str(p["key"]), _explain(str(p["key"]), str(p.get("message", "invalid"))))
             for p in problems if p.get("key")]
    missing = _MISSING.search(str(exc.detail))
    if not named and missing:
        named = [(missing.group(2), f"missing (required {missing.group(1)} parameter)")]
    if not named:
        return _error(400, f"invalid request parameters: {exc.detail}")
    message = "; ".join(f"{key}: {text}" for key, text in named)
    return _error(400, message, ParameterDetail(parameter=named[0][0]))


def _explain(key: str, message: str) -> str:
    choices = _CHOICES.get(key)
    return f"{message}; use one of {', '.join(choices)}" if choices and "enum" in message else message


def _on_http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    return _error(exc.status_code, exc.detail)


def _on_internal(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    log.exception("query API error on %s", request.url.path, exc_info=exc)
    return _error(500, "internal error", type(exc).__name__)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    BadRequest: _on_bad_request,
    NotFound: _on_not_found,
    NotFoundException: _on_not_found,
    ValidationException: _on_validation,
    HTTPException: _on_http,
    Exception: _on_internal,
}
