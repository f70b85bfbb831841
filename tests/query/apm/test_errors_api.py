"""The error endpoints on real chDB over hand-made spans and logs: exact counts, trends, critical reasons,
GET/PATCH of one issue (400/404, audit) and the role boundary with auth on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from litestar.testing import TestClient

from contracts.access import Role
from contracts.issues import Occurrence
from contracts.metadata import InMemoryMetadataStore
from query.api import build_app
from query.apm import errors
from query.apm.errors_models import ErrorSettings
from query.apm.errors_scan import scan
from query.apm.fingerprint import fingerprint, log_fingerprint
from query.apm.window import ApmWindow
from storage.clickhouse.client import connect
from storage.clickhouse.reader import ClickHouseReader
from tests.query.apm.errors_rows import STACK, ago, insert, log, ns, request

SETTINGS = ErrorSettings(spike_factor=3.0, spike_min_count=2, critical_types=("KeyError",),
                         critical_messages=("DB TIMEOUT",))
SVC = f"errapi-{uuid.uuid4().hex[:6]}"
WINDOW = {"start": str(int(ago(60).timestamp())), "end": str(int(ago(0).timestamp()))}
PAYT = f"PayError{SVC[-6:]}"  # a type of its own: fingerprints do not include the service
PAY = fingerprint(PAYT, "declined txn_1 for order 1", STACK)


@pytest.fixture(scope="module")
def reader(chdb_dsn: str, ch: Client) -> ClickHouseReader:
    """Loads the module's data once (see the comments for what each row is)."""
    pay = [(PAYT, "declined txn_1 for order 5")]
    spans = [
        request(SVC, "/pay", ago(30), 500, pay)[0],                                    # A
        request(SVC, "/pay", ago(20), 500, [(PAYT, "declined txn_2 for order 6")])[0],  # B
        request(SVC, "/pay", ago(20))[0],                                               # ok request
        request(SVC, "/cart", ago(10), 500, [("KeyError", "'sku'")])[0],                # D
        request(SVC, "/cart", ago(10), 503)[0],                                         # failed, no exception
        request(SVC, "/authorize", ago(5), 0, [("ValueError", "bad amount")], kind="Client")[0],  # not a request
        *[request(SVC, "/spike", ago(40 - i), 500, [("Spike", "overflow")])[0] for i in range(4)],
        # the previous window
        request(SVC, "/pay", ago(70), 500, pay)[0], request(SVC, "/pay", ago(80), 500, pay)[0],
        request(SVC, "/spike", ago(90), 500, [("Spike", "overflow")])[0],
    ]
    logs = [log(SVC, ago(15), "db timeout after 30s"), log(SVC, ago(15), "slow", severity=13),
            log(SVC, ago(25), "payment failed", attrs={"exception.type": PAYT, "exception.stacktrace": STACK,
                                                       "exception.message": "declined txn_3 for order 7"})]
    insert(ch, spans, logs)
    return ClickHouseReader(lambda: connect(chdb_dsn))


@pytest.fixture(scope="module")
def store(reader: ClickHouseReader) -> InMemoryMetadataStore:
    """Issues as the tracker records them; ValueError resolved at -50 min, then seen again (regressed)."""
    store = InMemoryMetadataStore()
    store.migrate("test")
    scan(reader, store.issues, store.settings, ns(ago(0)), initial_lookback_s=3 * 3600, service=SVC)
    value = fingerprint("ValueError", "bad amount", STACK)
    store.issues.set_status(value, "resolved", ns(ago(50)))
    store.issues.record([Occurrence(value, "ValueError", "bad amount", "bad amount", (), ns(ago(4)), SVC)])
    return store


def app(reader: ClickHouseReader, store: InMemoryMetadataStore, auth: bool = False) -> Any:
    return build_app(reader, lambda: {"status": "ok", "components": {}}, metadata=store,
                     dependencies={"error_settings": SETTINGS}, auth=auth)


@pytest.fixture(scope="module")
def client(reader: ClickHouseReader, store: InMemoryMetadataStore) -> Iterator[TestClient[Any]]:
    with TestClient(app(reader, store)) as c:
        yield c


def get(client: TestClient[Any], path: str, **params: Any) -> dict[str, Any]:
    r = client.get(path, params={**WINDOW, "service": SVC, **params})
    assert r.status_code == 200, r.text
    assert r.headers["Vigil-Data-Complete"] in ("true", "false")
    return r.json()  # type: ignore[no-any-return]


def test_totals_series_top_issues_by_service_and_type(client: TestClient[Any]) -> None:
    body = get(client, "/api/metrics/errors")
    assert (body["occurrences"], body["requests"], body["failed_requests"]) == (10, 9, 8)
    assert body["error_rate"] == pytest.approx(8 / 9)
    assert body["by_service"] == [{"name": SVC, "count": 10}]
    assert body["by_type"] == [{"name": "Spike", "count": 4}, {"name": PAYT, "count": 3},
                               {"name": "KeyError", "count": 1}, {"name": "ValueError", "count": 1},
                               {"name": "log", "count": 1}]
    assert sum(b["occurrences"] for b in body["series"]) == 10
    assert sum(b["failed_requests"] for b in body["series"]) == 8
    assert body["step_s"] == 60 and len(body["series"]) in (61, 62)
    first, second = body["top_issues"][:2]
    assert (first["type"], first["count"], first["endpoints"], first["status"]) == ("Spike", 4, ["/spike"], "open")
    assert (second["fingerprint"], second["count"], second["endpoints"]) == (PAY, 3, ["/pay"])  # 2 spans + 1 log
    assert "truncated" not in body and body["meta"]["data_complete"] in (True, False)
    assert get(client, "/api/metrics/errors", limit=1)["top_issues"][0]["type"] == "Spike"
    assert get(client, "/api/metrics/errors", environment="nowhere")["occurrences"] == 0


def test_trends_compare_with_the_previous_window(client: TestClient[Any]) -> None:
    body = get(client, "/api/metrics/errors/trends")
    overall = body["overall"]
    assert (overall["total"], overall["previous_total"], overall["change"]) == (10, 3, 7)
    assert overall["change_percent"] == pytest.approx(700 / 3)
    assert len(overall["counts"]) == len(body["bucket_starts"]) and sum(overall["counts"]) == 10
    by_type = {s["type"]: s for s in body["issues"]}
    assert (by_type["Spike"]["total"], by_type["Spike"]["previous_total"], by_type["Spike"]["change_percent"]) == (
        4, 1, 300.0)
    assert (by_type[PAYT]["previous_total"], by_type[PAYT]["change_percent"]) == (2, 50.0)
    assert (by_type["KeyError"]["previous_total"], by_type["KeyError"]["change_percent"]) == (0, None)
    spike_bucket = body["bucket_starts"].index(int(ago(40).timestamp()) // 60 * 60)
    assert by_type["Spike"]["counts"][spike_bucket] == 1


def test_critical_reasons(client: TestClient[Any], reader: ClickHouseReader, store: InMemoryMetadataStore) -> None:
    body = get(client, "/api/metrics/errors/critical")
    assert (body["spike_factor"], body["spike_min_count"]) == (3.0, 2)
    got = {i["type"]: (i["reasons"], i["count"], i["previous_count"]) for i in body["issues"]}
    assert got == {"Spike": (["spiking"], 4, 1),  # 4 >= 3 x 1; first seen in the previous window
                   "KeyError": (["new", "rule:type"], 1, 0),
                   "ValueError": (["new", "regressed"], 1, 0),
                   "log": (["new", "rule:message"], 1, 0)}  # PayError: 3 < 3 x 2, first seen before
    assert body["issues"][0]["type"] == "Spike"
    window = ApmWindow(ns(ago(60)), ns(ago(0)), 60)
    by_service = errors.critical_errors(reader, window, store.issues, ErrorSettings(spike_min_count=100,
                                                                                    critical_services=(SVC,)),
                                        service=SVC)
    assert sorted(i.type for i in by_service.issues if "rule:service" in i.reasons) == [
        "KeyError", PAYT, "Spike", "ValueError", "log"]
    untracked = errors.critical_errors(reader, window, None, ErrorSettings(spike_min_count=100), service=SVC)
    assert untracked.issues == []  # nothing is new or regressed without the repository


def test_one_issue_with_recent_occurrences(client: TestClient[Any]) -> None:
    r = client.get(f"/api/errors/{PAY}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["issue"]["count"], body["issue"]["type"], body["issue"]["status"]) == (5, PAYT, "open")
    assert body["issue"]["frames"] == ["/app/shop/gateway.py:call", "/app/shop/pay.py:charge"]
    occ = body["occurrences"]
    assert [o["source"] for o in occ] == ["span", "log", "span", "span", "span"]  # newest first
    assert [o["message"] for o in occ[:3]] == ["declined txn_2 for order 6", "declined txn_3 for order 7",
                                               "declined txn_1 for order 5"]
    assert occ[0]["endpoint"] == "/pay" and occ[0]["service"] == SVC and len(occ[0]["trace_id"]) == 32
    assert len(client.get(f"/api/errors/{PAY}", params={"limit": 2}).json()["occurrences"]) == 2
    log_fp = log_fingerprint(SVC, "db timeout after 30s")
    assert client.get(f"/api/errors/{log_fp}").json()["occurrences"][0]["source"] == "log"
    bad = client.get("/api/errors/NOT-A-FINGERPRINT")
    assert bad.status_code == 400 and bad.json()["detail"] == {"parameter": "fingerprint"}
    assert client.get("/api/errors/0123456789abcdef").status_code == 404
    assert client.get(f"/api/errors/{PAY}", params={"limit": 0}).status_code == 400


def test_patch_status_validates_and_audits(reader: ClickHouseReader) -> None:
    store = InMemoryMetadataStore()
    scan(reader, store.issues, store.settings, ns(ago(0)), initial_lookback_s=3 * 3600, service=SVC)
    with TestClient(app(reader, store)) as c:
        r = c.patch(f"/api/errors/{PAY}", json={"status": "resolved"})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "resolved" and r.json()["resolved_at_ns"] is not None
        assert store.issues.get(PAY).status == "resolved"  # type: ignore[union-attr]
        (entry,) = store.audit.query(action="error.status")
        assert (entry.actor, entry.target, entry.details) == ("anonymous", PAY, {"from": "open", "to": "resolved"})
        bad = c.patch(f"/api/errors/{PAY}", json={"status": "closed"})
        assert bad.status_code == 400 and bad.json()["detail"] == {"parameter": "status"}
        assert c.patch(f"/api/errors/{PAY}", json={}).status_code == 400
        assert c.patch("/api/errors/0123456789abcdef", json={"status": "open"}).status_code == 404
        assert c.patch("/api/errors/xyz", json={"status": "open"}).status_code == 400
        assert len(store.audit.query(action="error.status")) == 1  # refusals change nothing


def test_role_boundary_with_auth_on(reader: ClickHouseReader) -> None:
    store = InMemoryMetadataStore()
    scan(reader, store.issues, store.settings, ns(ago(0)), initial_lookback_s=3 * 3600, service=SVC)
    tokens = {r: store.tokens.create(f"t-{r.value}", r).token for r in (Role.VIEWER, Role.EDITOR)}
    with TestClient(app(reader, store, auth=True)) as c:
        def hdr(role: Role) -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[role]}"}

        assert c.get(f"/api/errors/{PAY}").status_code == 401
        assert c.get(f"/api/errors/{PAY}", headers=hdr(Role.VIEWER)).status_code == 200
        assert c.get("/api/metrics/errors", params=WINDOW, headers=hdr(Role.VIEWER)).status_code == 200
        denied = c.patch(f"/api/errors/{PAY}", json={"status": "ignored"}, headers=hdr(Role.VIEWER))
        assert denied.status_code == 403 and "editor" in denied.text
        ok = c.patch(f"/api/errors/{PAY}", json={"status": "ignored"}, headers=hdr(Role.EDITOR))
        assert ok.status_code == 200 and ok.json()["status"] == "ignored"
        (entry,) = store.audit.query(action="error.status")
        assert entry.actor.startswith("t-editor (")


def test_bad_parameters_name_them(client: TestClient[Any]) -> None:
    for path, params, parameter in [("/api/metrics/errors", {"limit": 0}, "limit"),
                                    ("/api/metrics/errors/trends", {"limit": 51}, "limit"),
                                    ("/api/metrics/errors/critical", {"range": "2h", "start": None}, "range")]:
        r = client.get(path, params={k: v for k, v in {**WINDOW, **params}.items() if v is not None
                                     and not (k == "end" and "range" in params)})
        assert r.status_code == 400, (path, r.text)
        assert r.json()["detail"] == {"parameter": parameter}, path
