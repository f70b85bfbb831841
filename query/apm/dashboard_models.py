"""Response type of ``/api/dashboard``: everything the overview page shows, in one document."""

from __future__ import annotations

import msgspec

from query.apm.database_models import SlowQuery
from query.apm.database_overview_models import DbDatabase, DbFigures
from query.apm.errors_models import CriticalIssue, ErrorBucket, IssueCount
from query.apm.insights_models import Insight
from query.apm.requests_models import ApiMetrics, ServiceRed
from query.apm.system_models import HostSystem
from query.models import UNKNOWN, ReadMeta


class Health(msgspec.Struct, frozen=True):
    """The overall state (``ok``/``warning``/``critical``) and the reasons for anything but ok."""

    status: str
    reasons: list[str]


class DatabaseSummary(msgspec.Struct, frozen=True):
    """DB call totals, per database, and the slowest statements (by total time)."""

    totals: DbFigures
    databases: list[DbDatabase]
    slow_queries: list[SlowQuery]


class ErrorSummary(msgspec.Struct, frozen=True):
    """Error occurrences, failed requests, their series, the top issues and the critical ones."""

    occurrences: int
    failed_requests: int
    error_rate: float
    series: list[ErrorBucket]
    top_issues: list[IssueCount]
    critical: list[CriticalIssue]


class ActiveAlert(msgspec.Struct, frozen=True):
    """A firing or pending alert instance."""

    name: str
    state: str
    severity: str
    since_unix_nano: int
    labels: dict[str, str]


class AlertSummary(msgspec.Struct, frozen=True):
    """Active alerts; ``evaluating`` is false while no alert evaluator runs in this Vigil (``active`` is [])."""

    evaluating: bool
    active: list[ActiveAlert]


class Dashboard(msgspec.Struct, frozen=True):
    """``/api/dashboard``: health, API RED, services, database, errors, hosts, alerts and top insights."""

    start_unix_nano: int
    end_unix_nano: int
    step_s: int
    health: Health
    api: ApiMetrics
    services: list[ServiceRed]
    database: DatabaseSummary
    errors: ErrorSummary
    hosts: list[HostSystem]
    alerts: AlertSummary
    insights: list[Insight]
    meta: ReadMeta = UNKNOWN
