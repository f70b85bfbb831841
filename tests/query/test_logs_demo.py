"""Log search and volume against the ``demo`` fixture: declined payments are found by their exception attributes.

The payments service logs every declined charge at ERROR with ``exc_info``: the body says
``payment failed for order N: <message>``, the exception's type (``PaymentGatewayError``) is only in the
``exception.type`` attribute. The shop's database records each decline (``payments.status``), the truth.
"""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from tests.demo_fixture import DemoData


def _get(demo: DemoData, path: str, **params: Any) -> httpx.Response:
    return httpx.get(demo.vigil.api + path, params={"start": demo.started_s, **params}, timeout=30)


def _declines(demo: DemoData) -> int:
    with psycopg.connect(demo.shop_db_url) as conn:
        row = conn.execute("SELECT count(*) FROM payments WHERE status = 'declined'").fetchone()
    assert row is not None
    return int(row[0])


def test_q_finds_declines_by_exception_type_attribute(demo: DemoData) -> None:
    declines = _declines(demo)
    assert declines > 0  # the session's demo declines a quarter of payments
    r = _get(demo, "/api/logs", q="paymentgatewayerror", limit=5000)
    assert r.status_code == 200, r.text
    found = r.json()["logs"]
    assert len(found) == declines
    for record in found:
        assert record["service_name"] == "payments" and record["severity_text"] == "ERROR"
        assert record["attributes"]["exception.type"].endswith("PaymentGatewayError")
        assert "PaymentGatewayError" not in record["body"]  # matched by the attribute only


def test_q_finds_one_exception_message(demo: DemoData) -> None:
    first = _get(demo, "/api/logs", q="PaymentGatewayError", limit=1).json()["logs"][0]
    message = first["attributes"]["exception.message"]
    txn = message.split()[3]  # "gateway declined transaction txn_… for order …"
    assert txn.startswith("txn_")
    r = _get(demo, "/api/logs", q=txn.upper())
    assert r.status_code == 200, r.text
    assert [x["attributes"].get("exception.message") for x in r.json()["logs"]] == [message]


def test_attr_and_severity_max_on_the_demo(demo: DemoData) -> None:
    declines = _declines(demo)
    errors = _get(demo, "/api/logs", service="payments", severity_min="error", severity_max="error",
                  limit=5000).json()["logs"]
    assert len(errors) == declines
    (exc_type,) = {x["attributes"]["exception.type"] for x in errors}
    assert exc_type.endswith("PaymentGatewayError")
    by_attr = _get(demo, "/api/logs", attr=f"exception.type:{exc_type}", limit=5000).json()["logs"]
    assert len(by_attr) == declines
    other = _get(demo, "/api/logs", attr=[f"exception.type:{exc_type}", "service.name:checkout"]).json()["logs"]
    assert other == []  # both filters must hold (service.name is a resource attribute)
    below = _get(demo, "/api/logs", service="payments", severity_max="warn", limit=5000).json()["logs"]
    assert below and all(x["severity_number"] <= 16 for x in below)
    assert _get(demo, "/api/logs", severity_min="error", severity_max="debug").status_code == 400


def test_volume(demo: DemoData) -> None:
    r = _get(demo, "/api/logs/volume", service="payments")
    assert r.status_code == 200, r.text
    body = r.json()
    listed = _get(demo, "/api/logs", service="payments", limit=5000).json()["logs"]
    assert body["total"] == len(listed) == sum(b["total"] for b in body["series"])
    assert {s["severity"]: s["count"] for s in body["by_severity"]}["ERROR"] == _declines(demo)
    assert body["by_service"] == [{"service": "payments", "count": len(listed)}]
