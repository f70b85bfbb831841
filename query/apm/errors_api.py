"""``/api/metrics/errors*`` and ``/api/errors/{fingerprint}``: the error endpoints (see :mod:`query.apm.errors`).

Dependencies: ``reader``, ``freshness`` and ``metadata`` (its ``issues``) from the app, ``window``
(:data:`query.apm.window.WINDOW`), ``audit`` (:class:`query.auth.Auditor`), and ``error_settings``
(:class:`query.apm.errors_models.ErrorSettings`) from the composition root (without it,
:data:`DEFAULT_SETTINGS`). ``PATCH /api/errors/{fingerprint}`` changes state, so with auth on it needs
role editor (the app-wide guard's rule for state-changing methods) and writes the audit entry
``error.status``. Without a metadata store the ``/api/errors`` routes answer 503.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch
from litestar.exceptions import HTTPException
from litestar.params import Dependency, Parameter

from contracts.issues import IssueRepository
from contracts.metadata import MetadataStore
from contracts.signals import Signal
from query.apm import errors
from query.apm.errors_models import CriticalErrors, ErrorMetrics, ErrorSettings, ErrorTrends, IssueDetail, IssueRecord
from query.apm.window import WINDOW, ApmWindow
from query.auth import Auditor
from query.controllers import Environment, Reader, Service, answer, read_meta
from query.models import ReadMeta
from query.openapi import FRESHNESS_HEADER, RESPONSES, RESPONSES_404

Settings = Annotated[ErrorSettings, Dependency(skip_validation=True)]
Metadata = Annotated[MetadataStore | None, Dependency(skip_validation=True)]
DEFAULT_SETTINGS = ErrorSettings()
META = read_meta(Signal.TRACES, Signal.LOGS)


def _issues_or_none(metadata: MetadataStore | None) -> IssueRepository | None:
    return metadata.issues if metadata is not None else None


def _issues(metadata: MetadataStore | None) -> IssueRepository:
    if metadata is None:
        raise HTTPException(status_code=503, detail="no metadata store")
    return metadata.issues


class ErrorMetricsController(Controller):
    """Error occurrences, failed requests, trends and critical issues of a window."""

    path = "/api/metrics/errors"
    tags = ["apm"]
    response_headers = [FRESHNESS_HEADER]
    dependencies = {"meta": META, **WINDOW}

    @get("/", sync_to_thread=True, summary="Errors", responses=RESPONSES)
    def overview(self, reader: Reader, meta: ReadMeta, window: ApmWindow, metadata: Metadata,
                 service: Service = None, environment: Environment = None,
                 limit: Annotated[int, Parameter(description="top issues (1–100)")] = 20) -> Response[ErrorMetrics]:
        """Occurrences, failed requests and error rate, per-bucket series, top issues, by service and type."""
        body = errors.error_metrics(reader, window, _issues_or_none(metadata), limit=limit, service=service,
                                    environment=environment)
        return answer(body, meta)

    @get("/trends", sync_to_thread=True, summary="Error trends", responses=RESPONSES)
    def trends(self, reader: Reader, meta: ReadMeta, window: ApmWindow, service: Service = None,
               environment: Environment = None,
               limit: Annotated[int, Parameter(description="issues (1–50)")] = 10) -> Response[ErrorTrends]:
        """Bucketed counts overall and per top issue, with the change vs the previous window."""
        return answer(errors.error_trends(reader, window, limit=limit, service=service, environment=environment),
                      meta)

    @get("/critical", sync_to_thread=True, summary="Critical errors", responses=RESPONSES)
    def critical(self, reader: Reader, meta: ReadMeta, window: ApmWindow, metadata: Metadata,
                 error_settings: Settings = DEFAULT_SETTINGS, service: Service = None,
                 environment: Environment = None) -> Response[CriticalErrors]:
        """Issues that are new, spiking, regressed or match a critical rule, each with its reasons."""
        body = errors.critical_errors(reader, window, _issues_or_none(metadata), error_settings, service=service,
                                      environment=environment)
        return answer(body, meta)


class ErrorIssueController(Controller):
    """One error issue: its record and recent occurrences; its status."""

    path = "/api/errors"
    tags = ["apm"]
    response_headers = [FRESHNESS_HEADER]

    @get("/{fingerprint:str}", sync_to_thread=True, summary="One error issue", responses=RESPONSES_404,
         dependencies={"meta": META})
    def detail(self, reader: Reader, meta: ReadMeta, metadata: Metadata, fingerprint: str,
               limit: Annotated[int, Parameter(description="occurrences (1–100)")] = 20) -> Response[IssueDetail]:
        """The issue from the repository and its most recent occurrences from the columnar store."""
        return answer(errors.issue_detail(reader, _issues(metadata), fingerprint, limit), meta)

    @patch("/{fingerprint:str}", sync_to_thread=True, summary="Set an error issue's status",
           responses=RESPONSES_404)
    def set_status(self, request: Request[Any, Any, Any], metadata: Metadata, audit: Auditor, fingerprint: str,
                   data: dict[str, Any]) -> IssueRecord:
        """Set ``status`` (open, resolved or ignored); answers the updated issue."""
        before, after = errors.set_status(_issues(metadata), fingerprint, data.get("status"), time.time_ns())
        audit(request, "error.status", fingerprint, {"from": before.status, "to": after.status})
        return errors.issue_record(after)
