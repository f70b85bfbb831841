"""``/api/dashboard``: one document with what the overview page needs, built from the APM services.

Each part is the answer of its own endpoint, cut to the overview's size: API RED (``/api/metrics/api``),
per-service RED, the database totals and per-database figures (no series or operations) and the five
slowest statements, error totals with the five most
frequent and every critical issue (``/api/metrics/errors[/critical]``), every host
(``/api/metrics/system``), the alert evaluator's active alerts and the five most severe insights
(``/api/insights/performance``, saturated hosts included). To stay cheap the overview leaves out what
it does not show: the insights' example traces (raw-span reads) and the slow statements' calling
endpoints; their own endpoints have them. Hosts are the
last 15 minutes of the window (their current state and a short series), with ``saturated_host`` findings
from that. Failed requests per bucket of the error summary are the API series'.

**Health** is ``critical`` when an insight (saturated hosts included) or an error issue is critical,
``warning`` for the warning-level equivalents or availability below the SLA target, else ``ok``; each
reason is a sentence naming the subject.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from contracts.issues import IssueRepository
from contracts.reader import TelemetryReader
from query.apm import database, database_overview, errors, errors_rollup, insights, requests, system
from query.apm.dashboard_models import AlertSummary, Dashboard, DatabaseSummary, ErrorSummary, Health
from query.apm.database_models import DatabaseSettings
from query.apm.errors_models import ErrorSettings
from query.apm.insights_hosts import saturated_hosts
from query.apm.insights_models import Insight, InsightSettings
from query.apm.memo import MemoReader
from query.apm.requests_models import ApiMetrics, ApiSettings
from query.apm.system_models import SystemSettings
from query.apm.window import ApmWindow

TOP = 5
WORKERS = 4  # the reader's handle pool (storage.clickhouse.reader.ClickHouseReader) has 4
HOSTS_WINDOW_S = 900
NS = 1_000_000_000


@dataclass(frozen=True)
class DashboardSettings:
    """The settings of every part (each feature's own)."""

    api: ApiSettings = ApiSettings()
    database: DatabaseSettings = DatabaseSettings()
    system: SystemSettings = SystemSettings()
    insights: InsightSettings = InsightSettings()
    errors: ErrorSettings = ErrorSettings()


def health(api: ApiMetrics, found: list[Insight], critical_issues: int,
           alerts: AlertSummary | None = None) -> Health:
    """The overall state and its reasons.

    ``critical``: a critical insight (saturated hosts included), a critical error issue or a firing alert
    with ``severity`` critical (or page); ``warning``: a warning insight, another firing alert or
    availability below the SLA target; else ``ok``.
    """
    firing = [a for a in (alerts.active if alerts else []) if a.state == "firing"]
    critical = [i.title for i in found if i.severity == "critical"]
    critical += [f"alert {a.name} firing" for a in firing if a.severity in ("critical", "page")]
    if critical_issues:
        critical.append(f"{critical_issues} critical error issue(s)")
    warnings = [i.title for i in found if i.severity == "warning"]
    warnings += [f"alert {a.name} firing" for a in firing if a.severity not in ("critical", "page")]
    if api.totals.requests and not api.meets_sla:
        warnings.append(f"availability {api.availability_percent:.2f}% is below the {api.sla_target_percent}% target")
    if critical:
        return Health("critical", critical + warnings)
    return Health("warning", warnings) if warnings else Health("ok", [])


def dashboard(reader: TelemetryReader, window: ApmWindow, issues: IssueRepository | None,
              settings: DashboardSettings, service: str | None = None,
              environment: str | None = None, alerts: AlertSummary | None = None) -> Dashboard:
    """The overview document of ``window`` (``service``/``environment`` filter every span-derived part).

    ``alerts`` are the evaluator's active alerts (None: no evaluator in this process); with ``service``,
    only alerts whose ``service_name`` label is that service.

    Independent parts run concurrently on the reader's handle pool (:data:`WORKERS` at a time).
    """
    reader = MemoReader(reader)  # parts that ask the same question share one answer
    hosts_window = ApmWindow(max(window.start_ns, window.end_ns - HOSTS_WINDOW_S * NS), window.end_ns,
                             min(window.step_s, 60))
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        f_api = pool.submit(requests.api_metrics, reader, window, settings.api, service, environment)
        f_services = pool.submit(requests.per_service, reader, window, settings.api, environment)
        f_db = pool.submit(database_overview.database_overview, reader, window, service=service,
                           environment=environment, limit=TOP, series=False)
        f_slow = pool.submit(database.slow_queries, reader, window, threshold_ms=settings.database.slow_query_ms,
                             limit=TOP, service=service, environment=environment, with_endpoints=False)
        f_found = pool.submit(errors_rollup.tallies, reader, window, service, environment)
        f_hosts = pool.submit(system.system_metrics, reader, hosts_window, settings.system)
        f_insights = pool.submit(insights.performance_insights, reader, window, settings.insights, service,
                                 environment, examples=False)
        found_errors = f_found.result()
        f_crit = pool.submit(errors.critical_errors, reader, window, issues, settings.errors, service=service,
                             environment=environment, found=found_errors)
        api = f_api.result()
        per_bucket = {b.t: (b.requests, b.errors) for b in api.series}
        err = errors.error_metrics(reader, window, issues, limit=TOP, service=service, environment=environment,
                                   found=found_errors, requests=per_bucket)
        services = f_services.result()
        db, slow, hosts, crit = f_db.result(), f_slow.result(), f_hosts.result().hosts, f_crit.result()
        found = insights.ordered(f_insights.result().insights + saturated_hosts(hosts))
    if service:
        services = [s for s in services if s.service == service]
    if alerts is not None and service:
        alerts = AlertSummary(alerts.evaluating, [a for a in alerts.active if a.labels.get("service_name") == service])
    alerts = alerts or AlertSummary(evaluating=False, active=[])
    return Dashboard(
        start_unix_nano=window.start_ns, end_unix_nano=window.end_ns, step_s=window.step_s,
        health=health(api, found, len(crit.issues), alerts), api=api, services=services,
        database=DatabaseSummary(totals=db.totals, databases=db.databases, slow_queries=slow.queries),
        errors=ErrorSummary(occurrences=err.occurrences, failed_requests=err.failed_requests,
                            error_rate=err.error_rate, series=err.series, top_issues=err.top_issues,
                            critical=crit.issues),
        hosts=hosts, alerts=alerts, insights=found[:TOP])
