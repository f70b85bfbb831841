"""alerts.notifiers: e-mail through a real SMTP server (STARTTLS + AUTH), Slack Block Kit, webhook signing."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

from alerts.notifiers.email import EmailNotifier
from alerts.notifiers.slack import SlackNotifier
from alerts.notifiers.webhook import WebhookNotifier, sign, verify_signature
from contracts.notify import AlertInstance, Notification, NotifyError
from instrumentation.demo.shop import free_port
from tests.alerts.blockkit import validate_message
from tests.alerts.sinks import HttpSink, SmtpSink, self_signed

EVIL = '<script>alert(1)</script><!channel> & <https://evil|click>'


def notification(n_alerts: int = 2, status: str = "firing") -> Notification:
    alerts = tuple(AlertInstance(status, {"alertname": "HighErrorRate", "service_name": f"pay{i}",  # type: ignore[arg-type]
                                          "severity": "warning", "evil": EVIL},
                                 {"summary": f"error rate {i}% {EVIL}", "description": "card gateway declines"},
                                 1_800_000_000.0, 1_800_000_600.0 if status == "resolved" else 0.0, f"fp{i}")
                   for i in range(n_alerts))
    return Notification("team", status, {"alertname": "HighErrorRate"}, alerts, '{}:{alertname="HighErrorRate"}',  # type: ignore[arg-type]
                        "http://vigil.example:3001")


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


@pytest.fixture(scope="module")
def tls_smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    s = SmtpSink(self_signed(tmp_path_factory.mktemp("tls")), user="alerts", password="pw")
    yield s
    s.close()


def email_cfg(port: int, **extra: object) -> dict[str, object]:
    return {"to": "oncall@example.com, lead@example.com", "from": "vigil@example.com",
            "smarthost": f"127.0.0.1:{port}", "auth_username": "alerts", "auth_password": "pw",
            "tls_config": {"insecure_skip_verify": True}, **extra}


async def test_email_over_starttls_with_auth(tls_smtp: SmtpSink) -> None:
    await EmailNotifier(email_cfg(tls_smtp.port), {}).send(notification())
    env, msg = tls_smtp.messages[-1]
    assert env.mail_from == "vigil@example.com"
    assert sorted(env.rcpt_tos) == ["lead@example.com", "oncall@example.com"]
    assert msg["Subject"] == "[FIRING:2] HighErrorRate" and msg.is_multipart()
    parts = {p.get_content_type(): _text(p) for p in msg.walk() if not p.is_multipart()}
    assert "error rate 1%" in parts["text/plain"]
    html = parts["text/html"]
    assert "<script>" not in html and "&lt;script&gt;" in html and 'href="http://vigil.example:3001/#/alerts"' in html


async def test_email_templates_and_headers(tls_smtp: SmtpSink) -> None:
    cfg = email_cfg(tls_smtp.port, headers={"Subject": "{{ .Status }}: {{ len .Alerts.Firing }} x "
                                                       "{{ .CommonLabels.alertname }}"},
                    text="{{ range .Alerts }}{{ .Labels.service_name }} {{ end }}")
    await EmailNotifier(cfg, {}).send(notification())
    _, msg = tls_smtp.messages[-1]
    assert msg["Subject"] == "firing: 2 x HighErrorRate"
    text = _text(next(p for p in msg.walk() if p.get_content_type() == "text/plain"))
    assert text.strip() == "pay0 pay1"


async def test_email_wrong_password_is_permanent(tls_smtp: SmtpSink) -> None:
    with pytest.raises(NotifyError) as err:
        await EmailNotifier(email_cfg(tls_smtp.port, auth_password="nope"), {}).send(notification())
    assert not err.value.retryable and "authentication" in str(err.value)


async def test_email_refuses_cleartext_when_tls_is_required() -> None:
    plain = SmtpSink()
    try:
        with pytest.raises(NotifyError) as err:
            await EmailNotifier({"to": "a@example.com", "from": "v@example.com",
                                 "smarthost": f"127.0.0.1:{plain.port}"}, {}).send(notification())
        assert "STARTTLS" in str(err.value) and not err.value.retryable and plain.messages == []
        cfg = {"to": "a@example.com", "smarthost": f"127.0.0.1:{plain.port}", "require_tls": False}
        await EmailNotifier(cfg, {"smtp_from": "global@example.com"}).send(notification())
        assert plain.messages[0][0].mail_from == "global@example.com"
    finally:
        plain.close()


async def test_email_connection_refused_is_retryable() -> None:
    with pytest.raises(NotifyError) as err:
        await EmailNotifier(email_cfg(free_port()), {}).send(notification())
    assert err.value.retryable


@pytest.fixture(scope="module")
def sink() -> Iterator[HttpSink]:
    s = HttpSink()
    yield s
    s.close()


@pytest.mark.parametrize("n_alerts", [1, 2, 25])
async def test_slack_message_is_valid_block_kit_and_escaped(sink: HttpSink, n_alerts: int) -> None:
    slack = SlackNotifier({"channel": "#alerts", "username": "Vigil", "icon_emoji": ":rotating_light:"},
                          {"slack_api_url": sink.url(f"/slack{n_alerts}")})
    await slack.send(notification(n_alerts))
    (req,) = sink.at(f"/slack{n_alerts}")
    msg = req.json()
    assert validate_message(msg) == []
    assert msg["channel"] == "#alerts" and msg["text"] == f"[FIRING:{n_alerts}] HighErrorRate"
    texts = [b["text"]["text"] for b in msg["blocks"] if b["type"] == "section"]
    assert len(texts) == min(n_alerts, 10)
    raw = req.body.decode()
    assert "<!channel>" not in raw and "<https://evil" not in raw and "&lt;!channel&gt;" in raw
    assert msg["blocks"][-1]["elements"][0]["url"] == "http://vigil.example:3001/#/alerts"
    if n_alerts > 10:
        assert "and 15 more alerts" in str(msg["blocks"])


async def test_slack_templates_and_long_text_stay_within_limits(sink: HttpSink) -> None:
    cfg = {"api_url": sink.url("/slack-tpl"), "title": "{{ .Status | toUpper }} {{ .GroupLabels.alertname }}",
           "text": "{{ range .Alerts }}{{ .Annotations.summary }}{{ end }}" + "x" * 5000}
    await SlackNotifier(cfg, {}).send(notification())
    msg = sink.at("/slack-tpl")[0].json()
    assert validate_message(msg) == [] and msg["blocks"][0]["text"]["text"] == "FIRING HighErrorRate"


async def test_slack_errors(sink: HttpSink) -> None:
    slack = SlackNotifier({"api_url": sink.url("/slack-err")}, {})
    sink.script["/slack-err"] = [429, 404]
    with pytest.raises(NotifyError) as first:
        await slack.send(notification())
    with pytest.raises(NotifyError) as second:
        await slack.send(notification())
    assert first.value.retryable and not second.value.retryable and "404" in str(second.value)
    assert "slack-err" not in str(second.value)  # the secret URL is never in an error


async def test_webhook_url_file_basic_auth_and_signature(sink: HttpSink, tmp_path: Path) -> None:
    (tmp_path / "url").write_text(sink.url("/wh") + "\n")
    (tmp_path / "secret").write_text("k3y\n")
    hook = WebhookNotifier({"url_file": str(tmp_path / "url"), "vigil_hmac_secret_file": str(tmp_path / "secret"),
                            "http_config": {"basic_auth": {"username": "u", "password": "p"}}})
    await hook.send(notification(status="resolved"))
    (req,) = sink.at("/wh")
    assert req.headers["authorization"] == "Basic dTpw"
    ts, sig = req.headers["x-vigil-timestamp"], req.headers["x-vigil-signature"]
    assert verify_signature("k3y", ts, req.body, sig)
    assert not verify_signature("k3y", ts, req.body + b" ", sig)
    assert not verify_signature("other", ts, req.body, sig)
    assert not verify_signature("k3y", str(int(ts) - 1000), req.body, sign("k3y", str(int(ts) - 1000), req.body))
    body = req.json()
    assert body["status"] == "resolved" and body["alerts"][0]["endsAt"] == "2027-01-15T08:10:00.000Z"
