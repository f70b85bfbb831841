"""Tests of the Block Kit payload validator itself (tests/alerts/blockkit.py)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from tests.alerts.blockkit import validate_message

Payload = dict[str, object]


def alert_message() -> Payload:
    """A realistic firing-alert notification: header, section fields, context, divider, actions."""
    return {
        "text": "[FIRING:1] HighErrorRate checkout (critical)",
        "username": "Vigil",
        "icon_emoji": ":rotating_light:",
        "channel": "#alerts",
        "unfurl_links": False,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": ":fire: HighErrorRate firing", "emoji": True}},
            {"type": "section", "block_id": "summary",
             "text": {"type": "mrkdwn", "text": "*checkout* error rate is *7.3%* (threshold 5%)"},
             "fields": [
                 {"type": "mrkdwn", "text": "*Severity*\ncritical"},
                 {"type": "mrkdwn", "text": "*Service*\ncheckout"},
                 {"type": "mrkdwn", "text": "*Environment*\nprod", "verbatim": True},
                 {"type": "plain_text", "text": "Started 12:04 UTC"},
             ],
             "accessory": {"type": "image", "image_url": "https://vigil.example/icons/critical.png",
                           "alt_text": "critical"}},
            {"type": "context", "elements": [
                {"type": "image", "image_url": "https://vigil.example/logo.png", "alt_text": "Vigil"},
                {"type": "mrkdwn", "text": "alertname=HighErrorRate · fingerprint `3f2a9c`"},
            ]},
            {"type": "divider"},
            {"type": "actions", "block_id": "links", "elements": [
                {"type": "button", "action_id": "open", "style": "primary",
                 "text": {"type": "plain_text", "text": "Open in Vigil"},
                 "url": "https://vigil.example/alerts/3f2a9c"},
                {"type": "button", "action_id": "silence", "style": "danger", "value": "3f2a9c",
                 "text": {"type": "plain_text", "text": "Silence 1h"},
                 "confirm": {"title": {"type": "plain_text", "text": "Silence?"},
                             "text": {"type": "plain_text", "text": "Mute this alert for one hour."},
                             "confirm": {"type": "plain_text", "text": "Silence"},
                             "deny": {"type": "plain_text", "text": "Cancel"}}},
            ]},
            {"type": "image", "image_url": "https://vigil.example/graph.png", "alt_text": "error rate graph",
             "title": {"type": "plain_text", "text": "Error rate, last hour"}},
        ],
    }


def legacy_message() -> Payload:
    """An Alertmanager-style payload built from a secondary attachment."""
    return {
        "channel": "#alerts",
        "username": "Vigil",
        "attachments": [{
            "color": "danger", "fallback": "[FIRING:1] HighErrorRate", "title": "[FIRING:1] HighErrorRate",
            "title_link": "https://vigil.example/alerts", "pretext": "", "text": "error rate 7.3%",
            "callback_id": "", "footer": "Vigil", "mrkdwn_in": ["pretext", "text"],
            "fields": [{"title": "severity", "value": "critical", "short": True}],
            "ts": 1700000000,
            "actions": [{"type": "button", "text": "Runbook", "url": "https://runbooks.example/x"}],
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "details"}}],
        }],
    }


def test_alert_message_is_valid() -> None:
    assert validate_message(alert_message()) == []


def test_legacy_attachment_message_is_valid() -> None:
    assert validate_message(legacy_message()) == []


def test_text_only_and_boundary_values_are_valid() -> None:
    assert validate_message({"text": "hello"}) == []
    at_limits: Payload = {"blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        {"type": "section", "block_id": "b" * 255, "text": {"type": "mrkdwn", "text": "s" * 3000},
         "fields": [{"type": "mrkdwn", "text": "f" * 2000}] * 10},
        {"type": "context", "elements": [{"type": "plain_text", "text": "c"}] * 10},
        {"type": "actions", "elements": [
            {"type": "button", "action_id": f"a{i}", "text": {"type": "plain_text", "text": "t" * 75},
             "url": "https://x.example/" + "u" * (3000 - 18)} for i in range(25)]},
    ] + [{"type": "divider"}] * 46}
    assert validate_message(at_limits) == []


def _blocks(p: Payload) -> list[dict[str, object]]:
    blocks = p["blocks"]
    assert isinstance(blocks, list)
    return blocks


def _d(value: object) -> dict[str, object]:
    assert isinstance(value, dict)
    return value


def _l(value: object) -> list[object]:
    assert isinstance(value, list)
    return value


def _button(p: Payload) -> dict[str, object]:
    return _d(_l(_blocks(p)[4]["elements"])[0])


Mutation = Callable[[Payload], object]

# (case id, mutation of alert_message(), expected path, expected substring of the problem)
CASES: list[tuple[str, Mutation, str, str]] = [
    ("unknown-top-level-key", lambda p: p.update(icon="x"), "$.icon", "unknown top-level key"),
    ("top-level-wrong-type", lambda p: p.update(unfurl_media="no"), "$.unfurl_media", "must be a boolean"),
    ("text-wrong-type", lambda p: p.update(text=5), "$.text", "must be a string"),
    ("icon-emoji-format", lambda p: p.update(icon_emoji="rotating_light"), "$.icon_emoji", "emoji name"),
    ("message-text-too-long", lambda p: p.update(text="x" * 40_001), "$.text", "maximum is 40000"),
    ("empty-message", lambda p: [p.pop(k) for k in ("text", "blocks")], "$", "needs non-empty"),
    ("too-many-blocks", lambda p: _blocks(p).extend([{"type": "divider"}] * 45), "$.blocks", "maximum is 50"),
    ("block-not-object", lambda p: _l(p["blocks"]).append("divider"), "$.blocks[6]", "must be an object"),
    ("block-missing-type", lambda p: _blocks(p)[3].pop("type"), "$.blocks[3]", "missing required key 'type'"),
    ("unsupported-block", lambda p: _blocks(p).append({"type": "rich_text", "elements": []}),
     "$.blocks[6].type", "unsupported block type 'rich_text'"),
    ("unknown-block-key", lambda p: _blocks(p)[3].update(color="red"), "$.blocks[3].color", "unknown key"),
    ("block-id-too-long", lambda p: _blocks(p)[3].update(block_id="b" * 256), "$.blocks[3].block_id",
     "maximum is 255"),
    ("duplicate-block-id", lambda p: _blocks(p)[3].update(block_id="summary"), "$.blocks[3].block_id",
     "duplicate block_id"),
    # header
    ("header-text-too-long", lambda p: _d(_blocks(p)[0]["text"]).update(text="h" * 151), "$.blocks[0].text.text",
     "maximum is 150"),
    ("header-mrkdwn", lambda p: _blocks(p)[0].update(text={"type": "mrkdwn", "text": "*h*"}),
     "$.blocks[0].text.type", "must be one of 'plain_text'"),
    ("header-missing-text", lambda p: _blocks(p)[0].pop("text"), "$.blocks[0]", "missing required key 'text'"),
    # section
    ("section-text-too-long", lambda p: _d(_blocks(p)[1]["text"]).update(text="s" * 3001),
     "$.blocks[1].text.text", "maximum is 3000"),
    ("section-text-empty", lambda p: _d(_blocks(p)[1]["text"]).update(text=""), "$.blocks[1].text.text",
     "at least 1 character"),
    ("section-needs-text-or-fields", lambda p: [_blocks(p)[1].pop(k) for k in ("text", "fields")],
     "$.blocks[1]", "needs 'text' or 'fields'"),
    ("section-too-many-fields", lambda p: _l(_blocks(p)[1]["fields"]).extend(
        [{"type": "mrkdwn", "text": "x"}] * 7), "$.blocks[1].fields", "maximum is 10"),
    ("section-field-too-long", lambda p: _d(_l(_blocks(p)[1]["fields"])[1]).update(text="f" * 2001),
     "$.blocks[1].fields[1].text", "maximum is 2000"),
    ("section-bad-accessory", lambda p: _blocks(p)[1].update(accessory={"type": "static_select"}),
     "$.blocks[1].accessory.type", "not allowed here"),
    ("section-expand-type", lambda p: _blocks(p)[1].update(expand="yes"), "$.blocks[1].expand",
     "must be a boolean"),
    # text objects
    ("text-bad-type", lambda p: _d(_l(_blocks(p)[1]["fields"])[0]).update(type="markdown"),
     "$.blocks[1].fields[0].type", "must be one of 'plain_text', 'mrkdwn'"),
    ("emoji-on-mrkdwn", lambda p: _d(_l(_blocks(p)[1]["fields"])[0]).update(emoji=True),
     "$.blocks[1].fields[0].emoji", "only usable when type is 'plain_text'"),
    ("verbatim-on-plain", lambda p: _d(_l(_blocks(p)[1]["fields"])[3]).update(verbatim=True),
     "$.blocks[1].fields[3].verbatim", "only usable when type is 'mrkdwn'"),
    ("text-unknown-key", lambda p: _d(_l(_blocks(p)[1]["fields"])[0]).update(bold=True),
     "$.blocks[1].fields[0].bold", "unknown key"),
    ("text-is-string", lambda p: _blocks(p)[1].update(text="plain string"), "$.blocks[1].text",
     "must be an object, got string"),
    # context
    ("context-too-many", lambda p: _l(_blocks(p)[2]["elements"]).extend([{"type": "mrkdwn", "text": "x"}] * 9),
     "$.blocks[2].elements", "maximum is 10"),
    ("context-button", lambda p: _l(_blocks(p)[2]["elements"]).append(
        {"type": "button", "text": {"type": "plain_text", "text": "x"}}),
     "$.blocks[2].elements[2].type", "text object or an image element"),
    ("context-empty", lambda p: _blocks(p)[2].update(elements=[]), "$.blocks[2].elements", "at least 1 item"),
    ("context-image-no-alt", lambda p: _d(_l(_blocks(p)[2]["elements"])[0]).pop("alt_text"),
     "$.blocks[2].elements[0]", "missing required key 'alt_text'"),
    ("image-url-too-long", lambda p: _d(_l(_blocks(p)[2]["elements"])[0]).update(image_url="u" * 3001),
     "$.blocks[2].elements[0].image_url", "maximum is 3000"),
    # divider
    ("divider-extra-key", lambda p: _blocks(p)[3].update(text={"type": "plain_text", "text": "x"}),
     "$.blocks[3].text", "unknown key 'text' for a divider block"),
    # actions / button
    ("actions-too-many", lambda p: _blocks(p)[4].update(elements=[
        {"type": "button", "action_id": f"b{i}", "text": {"type": "plain_text", "text": "x"}} for i in range(26)]),
     "$.blocks[4].elements", "maximum is 25"),
    ("actions-missing-elements", lambda p: _blocks(p)[4].pop("elements"), "$.blocks[4]",
     "missing required key 'elements'"),
    ("button-text-too-long", lambda p: _d(_button(p)["text"]).update(text="t" * 76),
     "$.blocks[4].elements[0].text.text", "maximum is 75"),
    ("button-text-mrkdwn", lambda p: _button(p).update(text={"type": "mrkdwn", "text": "*x*"}),
     "$.blocks[4].elements[0].text.type", "must be one of 'plain_text'"),
    ("button-url-too-long", lambda p: _button(p).update(url="https://x/" + "u" * 2991),
     "$.blocks[4].elements[0].url", "maximum is 3000"),
    ("button-action-id-too-long", lambda p: _button(p).update(action_id="a" * 256),
     "$.blocks[4].elements[0].action_id", "maximum is 255"),
    ("button-style", lambda p: _button(p).update(style="secondary"), "$.blocks[4].elements[0].style",
     "must be one of 'primary', 'danger'"),
    ("button-value-too-long", lambda p: _button(p).update(value="v" * 2001), "$.blocks[4].elements[0].value",
     "maximum is 2000"),
    ("button-unknown-key", lambda p: _button(p).update(link="https://x"), "$.blocks[4].elements[0].link",
     "unknown key 'link' for a button element"),
    ("button-missing-text", lambda p: _button(p).pop("text"), "$.blocks[4].elements[0]",
     "missing required key 'text'"),
    ("duplicate-action-id", lambda p: _d(_l(_blocks(p)[4]["elements"])[1]).update(action_id="open"),
     "$.blocks[4].elements[1].action_id", "duplicate action_id"),
    ("confirm-title-too-long", lambda p: _d(_d(_d(_l(_blocks(p)[4]["elements"])[1])["confirm"])["title"]).update(
        text="t" * 101), "$.blocks[4].elements[1].confirm.title.text", "maximum is 100"),
    ("confirm-missing-deny", lambda p: _d(_d(_l(_blocks(p)[4]["elements"])[1])["confirm"]).pop("deny"),
     "$.blocks[4].elements[1].confirm", "missing required key 'deny'"),
    # image block
    ("image-alt-too-long", lambda p: _blocks(p)[5].update(alt_text="a" * 2001), "$.blocks[5].alt_text",
     "maximum is 2000"),
    ("image-no-source", lambda p: _blocks(p)[5].pop("image_url"), "$.blocks[5]",
     "exactly one of 'image_url' or 'slack_file'"),
    ("image-title-mrkdwn", lambda p: _blocks(p)[5].update(title={"type": "mrkdwn", "text": "t"}),
     "$.blocks[5].title.type", "must be one of 'plain_text'"),
]


@pytest.mark.parametrize(("mutate", "path", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_violation_is_reported_with_its_path(mutate: Mutation, path: str, fragment: str) -> None:
    payload = alert_message()
    mutate(payload)
    problems = validate_message(payload)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: ") and fragment in problems[0], problems


def _attachment(p: Payload) -> dict[str, object]:
    return _d(_l(p["attachments"])[0])


ATTACHMENT_CASES: list[tuple[str, Mutation, str, str]] = [
    ("unknown-key", lambda p: _attachment(p).update(colour="danger"), "$.attachments[0].colour", "unknown key"),
    ("bad-color", lambda p: _attachment(p).update(color="crimson"), "$.attachments[0].color", "hex color"),
    ("fallback-type", lambda p: _attachment(p).update(fallback=["x"]), "$.attachments[0].fallback",
     "must be a string"),
    ("mrkdwn-in", lambda p: _attachment(p).update(mrkdwn_in=["title"]), "$.attachments[0].mrkdwn_in[0]",
     "must be one of"),
    ("field-short-type", lambda p: _d(_l(_attachment(p)["fields"])[0]).update(short="true"),
     "$.attachments[0].fields[0].short", "must be a boolean"),
    ("field-unknown-key", lambda p: _d(_l(_attachment(p)["fields"])[0]).update(name="x"),
     "$.attachments[0].fields[0].name", "unknown key"),
    ("ts-type", lambda p: _attachment(p).update(ts="yesterday"), "$.attachments[0].ts", "Unix timestamp"),
    ("nested-block", lambda p: _l(_attachment(p)["blocks"]).append({"type": "header", "text": {
        "type": "plain_text", "text": "h" * 151}}), "$.attachments[0].blocks[1].text.text", "maximum is 150"),
    ("nested-too-many-blocks", lambda p: _l(_attachment(p)["blocks"]).extend([{"type": "divider"}] * 50),
     "$.attachments[0].blocks", "maximum is 50"),
    ("legacy-action-style", lambda p: _d(_l(_attachment(p)["actions"])[0]).update(style="green"),
     "$.attachments[0].actions[0].style", "must be one of"),
    ("attachments-not-array", lambda p: p.update(attachments={"color": "good"}), "$.attachments",
     "must be an array"),
]


@pytest.mark.parametrize(("mutate", "path", "fragment"), [c[1:] for c in ATTACHMENT_CASES],
                         ids=[c[0] for c in ATTACHMENT_CASES])
def test_attachment_violations_are_reported_with_their_path(mutate: Mutation, path: str, fragment: str) -> None:
    payload = legacy_message()
    mutate(payload)
    problems = validate_message(payload)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: ") and fragment in problems[0], problems


def test_one_violation_yields_one_problem() -> None:
    payload = alert_message()
    _button(payload).update(style="secondary")
    assert validate_message(payload) == [
        "$.blocks[4].elements[0].style: must be one of 'primary', 'danger', got 'secondary'"]


def test_validator_does_not_mutate_its_input() -> None:
    payload = alert_message()
    before = copy.deepcopy(payload)
    validate_message(payload)
    assert payload == before


def test_non_object_payload() -> None:
    assert validate_message([]) == ["$: the message payload must be an object, got array"]  # type: ignore[arg-type]
