"""Offline validator for Slack incoming-webhook message payloads (Block Kit).

``validate_message(payload)`` checks a decoded JSON payload against the structure and limits that
Slack documents, so the output of our Slack notifier can be tested without Slack's cloud.  It returns
human-readable problems, each prefixed with a JSON path (``$.blocks[2].fields[0].text``); an empty
list means the payload is valid.  Keys Slack does not document for an object are reported as errors
(Slack itself rejects most of them with ``invalid_blocks``), so a typo cannot slip through.

Only the subset of Block Kit that a notifier needs is modelled: the blocks ``header``, ``section``,
``context``, ``divider``, ``actions`` and ``image``; the elements ``button`` and ``image``; text,
confirmation-dialog and Slack-file composition objects; and legacy secondary attachments.  Anything
else (select menus, ``rich_text``, ``input``...) is reported as unsupported rather than silently
accepted.

Where the limits come from:

* Message payload keys (incoming webhooks take the same message fields as ``chat.postMessage``):
  https://api.slack.com/messaging/webhooks and
  https://docs.slack.dev/tools/node-slack-sdk/reference/web-api/type-aliases/ChatPostMessageArguments
* "up to 50 blocks in each message": https://docs.slack.dev/reference/block-kit/blocks
* Header block (text is ``plain_text``, at most 150 characters; ``block_id`` at most 255):
  https://docs.slack.dev/reference/block-kit/blocks/header-block
  (field table as quoted in https://docs.slack.dev/tools/node-slack-sdk/reference/types/interfaces/HeaderBlock)
* Section block (text 1..3000; fields at most 10, each at most 2000; ``accessory``; ``expand``):
  https://docs.slack.dev/reference/block-kit/blocks/section-block
* Context block (elements: image elements and text objects, at most 10):
  https://docs.slack.dev/reference/block-kit/blocks/context-block
* Actions block (at most 25 elements):
  https://docs.slack.dev/tools/node-slack-sdk/reference/types/interfaces/ActionsBlock
* Image block (``alt_text`` at most 2000, ``image_url`` at most 3000 or a ``slack_file``, ``title``
  ``plain_text`` at most 2000): https://docs.slack.dev/reference/block-kit/blocks/image-block
* Text object (``plain_text`` | ``mrkdwn``; text 1..3000; ``emoji`` only on ``plain_text``,
  ``verbatim`` only on ``mrkdwn``): https://docs.slack.dev/reference/block-kit/composition-objects/text-object
* Button element (text ``plain_text`` at most 75; ``action_id`` at most 255, unique in its block;
  ``url`` at most 3000; ``value`` at most 2000; ``style`` ``primary`` | ``danger``;
  ``accessibility_label`` at most 75): https://docs.slack.dev/reference/block-kit/block-elements/button-element
  and https://docs.slack.dev/tools/node-slack-sdk/reference/types/interfaces/Button
* Image element (``alt_text``; ``image_url`` at most 3000 or ``slack_file``):
  https://docs.slack.dev/reference/block-kit/block-elements/image-element
* Confirmation dialog (title 100, text 300, confirm/deny 30, ``plain_text``):
  https://docs.slack.dev/reference/block-kit/composition-objects/confirmation-dialog-object
  (limits as quoted in https://docs.slack.dev/tools/node-slack-sdk/reference/web-api/interfaces/ConfirmationDialog)
* Secondary attachments (``color`` ``good`` | ``warning`` | ``danger`` | hex, ``fallback``, ``blocks``,
  ``fields`` with ``title``/``value``/``short``, ``mrkdwn_in``, ``ts``...):
  https://api.slack.com/reference/messaging/attachments
  Legacy attachment buttons (``actions``, as Alertmanager-style notifiers emit them) are checked for
  shape only (``type: button``, ``text``, ``url``/``name``/``value``, ``style``).
* Message ``text`` limit of 40,000 characters (chat.postMessage documentation, as quoted in
  https://github.com/slackapi/bolt-js/issues/2509).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

__all__ = ["validate_message"]

MAX_BLOCKS = 50
MAX_MESSAGE_TEXT = 40_000
MAX_BLOCK_ID = 255
MAX_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_SECTION_FIELDS = 10
MAX_SECTION_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_ACTION_ID = 255
MAX_URL = 3000
MAX_BUTTON_VALUE = 2000
MAX_ACCESSIBILITY_LABEL = 75
MAX_ALT_TEXT = 2000
MAX_IMAGE_TITLE = 2000
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30

TEXT_TYPES = ("plain_text", "mrkdwn")
BUTTON_STYLES = ("primary", "danger")
ATTACHMENT_COLORS = ("good", "warning", "danger")
MRKDWN_IN = ("pretext", "text", "fields")
LEGACY_ACTION_STYLES = ("default", "primary", "danger")

_HEX_COLOR = re.compile(r"#?(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_EMOJI_NAME = re.compile(r":[a-z0-9_+'\-]+:(?::skin-tone-[2-6]:)?")

Obj = Mapping[str, object]

# Top-level keys of an incoming-webhook message and the JSON type each must have.
_MESSAGE_KEYS: dict[str, tuple[type, ...]] = {
    "text": (str,), "blocks": (list,), "attachments": (list,), "thread_ts": (str,),
    "mrkdwn": (bool,), "username": (str,), "icon_emoji": (str,), "icon_url": (str,),
    "channel": (str,), "unfurl_links": (bool,), "unfurl_media": (bool,), "parse": (str,),
    "link_names": (bool, int), "reply_broadcast": (bool,),
}

# Plain-string attachment keys (secondary attachments reference), apart from the structured ones.
_ATTACHMENT_STR_KEYS = ("fallback", "pretext", "author_name", "author_link", "author_icon", "title",
                        "title_link", "text", "image_url", "thumb_url", "footer", "footer_icon",
                        "callback_id")
_ATTACHMENT_KEYS = frozenset(_ATTACHMENT_STR_KEYS) | {"color", "blocks", "fields", "mrkdwn_in", "ts", "actions"}


def validate_message(payload: dict[str, object]) -> list[str]:
    """Return the problems (``"<json path>: <what is wrong>"``) found in an incoming-webhook payload."""
    v = _Validator()
    v.message(payload)
    return v.problems


class _Validator:
    def __init__(self) -> None:
        self.problems: list[str] = []

    # ----------------------------------------------------------------------------------- helpers

    def err(self, path: str, msg: str) -> None:
        self.problems.append(f"{path}: {msg}")

    def obj(self, value: object, path: str, what: str) -> Obj | None:
        if not isinstance(value, dict):
            self.err(path, f"{what} must be an object, got {_kind(value)}")
            return None
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            self.err(path, f"object keys must be strings, got {bad!r}")
            return None
        return value

    def keys(self, o: Obj, path: str, what: str, required: tuple[str, ...], optional: tuple[str, ...]) -> None:
        for k in required:
            if k not in o:
                self.err(path, f"{what} is missing required key {k!r}")
        allowed = set(required) | set(optional)
        for k in o:
            if k not in allowed:
                self.err(f"{path}.{k}", f"unknown key {k!r} for {what} (allowed: {', '.join(sorted(allowed))})")

    def string(self, o: Obj, key: str, path: str, *, max_len: int | None = None, min_len: int = 1,
               choices: tuple[str, ...] = ()) -> str | None:
        """Check ``o[key]`` (if present) is a string within the limits; return it when valid."""
        if key not in o:
            return None
        p = f"{path}.{key}"
        value = o[key]
        if not isinstance(value, str):
            self.err(p, f"must be a string, got {_kind(value)}")
            return None
        if choices and value not in choices:
            self.err(p, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
            return None
        if len(value) < min_len:
            self.err(p, f"must be at least {min_len} character{'s' * (min_len != 1)} long")
            return None
        if max_len is not None and len(value) > max_len:
            self.err(p, f"is {len(value)} characters long, the maximum is {max_len}")
            return None
        return value

    def boolean(self, o: Obj, key: str, path: str) -> None:
        if key in o and not isinstance(o[key], bool):
            self.err(f"{path}.{key}", f"must be a boolean, got {_kind(o[key])}")

    def array(self, o: Obj, key: str, path: str, *, max_items: int | None = None,
              min_items: int = 1) -> list[object] | None:
        if key not in o:
            return None
        p = f"{path}.{key}"
        value = o[key]
        if not isinstance(value, list):
            self.err(p, f"must be an array, got {_kind(value)}")
            return None
        if len(value) < min_items:
            self.err(p, f"must have at least {min_items} item{'s' * (min_items != 1)}")
        if max_items is not None and len(value) > max_items:
            self.err(p, f"has {len(value)} items, the maximum is {max_items}")
        return value

    # ----------------------------------------------------------------------------------- message

    def message(self, payload: object) -> None:
        msg = self.obj(payload, "$", "the message payload")
        if msg is None:
            return
        for k, value in msg.items():
            types = _MESSAGE_KEYS.get(k)
            if types is None:
                self.err(f"$.{k}", f"unknown top-level key {k!r} (allowed: {', '.join(sorted(_MESSAGE_KEYS))})")
            elif k not in ("text", "parse", "blocks", "attachments") and not isinstance(value, types):
                names = " or ".join(_TYPE_NAMES[t] for t in types)
                self.err(f"$.{k}", f"must be {names}, got {_kind(value)}")
        if not any(msg.get(k) for k in ("text", "blocks", "attachments")):
            self.err("$", "a message needs non-empty 'text', 'blocks' or 'attachments'")
        self.string(msg, "text", "$", max_len=MAX_MESSAGE_TEXT, min_len=0)
        self.string(msg, "parse", "$", choices=("full", "none"))
        icon = msg.get("icon_emoji")
        if isinstance(icon, str) and not _EMOJI_NAME.fullmatch(icon):
            self.err("$.icon_emoji", f"must be an emoji name in colons like ':rotating_light:', got {icon!r}")
        if "blocks" in msg:
            self.blocks(msg, "$")
        attachments = self.array(msg, "attachments", "$", min_items=0)
        for i, att in enumerate(attachments or []):
            self.attachment(att, f"$.attachments[{i}]")

    def blocks(self, container: Obj, path: str) -> None:
        blocks = self.array(container, "blocks", path, max_items=MAX_BLOCKS, min_items=0)
        seen: dict[str, int] = {}
        for i, block in enumerate(blocks or []):
            p = f"{path}.blocks[{i}]"
            b = self.block(block, p)
            block_id = b.get("block_id") if b is not None else None
            if isinstance(block_id, str):
                if block_id in seen:
                    self.err(f"{p}.block_id", f"duplicate block_id {block_id!r} (also used by block {seen[block_id]})")
                else:
                    seen[block_id] = i

    # ------------------------------------------------------------------------------------ blocks

    def block(self, value: object, path: str) -> Obj | None:
        b = self.obj(value, path, "a block")
        if b is None:
            return None
        kind = b.get("type")
        check = _BLOCKS.get(kind) if isinstance(kind, str) else None
        if check is None:
            if "type" not in b:
                self.err(path, "a block is missing required key 'type'")
            else:
                self.err(f"{path}.type", f"unsupported block type {kind!r} "
                         f"(supported: {', '.join(sorted(_BLOCKS))})")
            return b
        self.string(b, "block_id", path, max_len=MAX_BLOCK_ID)
        check(self, b, path)
        return b

    def header(self, b: Obj, path: str) -> None:
        self.keys(b, path, "a header block", ("type", "text"), ("block_id",))
        if "text" in b:
            self.text(b["text"], f"{path}.text", max_len=MAX_HEADER_TEXT, plain_only=True)

    def section(self, b: Obj, path: str) -> None:
        self.keys(b, path, "a section block", ("type",), ("text", "fields", "accessory", "block_id", "expand"))
        if "text" not in b and "fields" not in b:
            self.err(path, "a section block needs 'text' or 'fields'")
        if "text" in b:
            self.text(b["text"], f"{path}.text", max_len=MAX_TEXT)
        fields = self.array(b, "fields", path, max_items=MAX_SECTION_FIELDS)
        for i, field in enumerate(fields or []):
            self.text(field, f"{path}.fields[{i}]", max_len=MAX_SECTION_FIELD_TEXT)
        if "accessory" in b:
            self.element(b["accessory"], f"{path}.accessory", allowed=("button", "image"))
        self.boolean(b, "expand", path)

    def context(self, b: Obj, path: str) -> None:
        self.keys(b, path, "a context block", ("type", "elements"), ("block_id",))
        elements = self.array(b, "elements", path, max_items=MAX_CONTEXT_ELEMENTS)
        for i, el in enumerate(elements or []):
            p = f"{path}.elements[{i}]"
            e = self.obj(el, p, "a context element")
            if e is None:
                continue
            if e.get("type") in TEXT_TYPES:
                self.text(e, p, max_len=MAX_TEXT)
            elif e.get("type") == "image":
                self.image_element(e, p)
            else:
                self.err(f"{p}.type" if "type" in e else p,
                         f"a context element must be a text object or an image element, got type {e.get('type')!r}")

    def divider(self, b: Obj, path: str) -> None:
        self.keys(b, path, "a divider block", ("type",), ("block_id",))

    def actions(self, b: Obj, path: str) -> None:
        self.keys(b, path, "an actions block", ("type", "elements"), ("block_id",))
        elements = self.array(b, "elements", path, max_items=MAX_ACTIONS_ELEMENTS)
        seen: dict[str, int] = {}
        for i, el in enumerate(elements or []):
            p = f"{path}.elements[{i}]"
            e = self.element(el, p, allowed=("button",))
            action_id = e.get("action_id") if e is not None else None
            if isinstance(action_id, str):
                if action_id in seen:
                    self.err(f"{p}.action_id", f"duplicate action_id {action_id!r} in this block "
                             f"(also used by element {seen[action_id]})")
                else:
                    seen[action_id] = i

    def image_block(self, b: Obj, path: str) -> None:
        self.keys(b, path, "an image block", ("type", "alt_text"), ("image_url", "slack_file", "title", "block_id"))
        self.string(b, "alt_text", path, max_len=MAX_ALT_TEXT)
        self.image_source(b, path)
        if "title" in b:
            self.text(b["title"], f"{path}.title", max_len=MAX_IMAGE_TITLE, plain_only=True)

    # ---------------------------------------------------------------------------------- elements

    def element(self, value: object, path: str, *, allowed: tuple[str, ...]) -> Obj | None:
        e = self.obj(value, path, "a block element")
        if e is None:
            return None
        kind = e.get("type")
        if kind not in allowed:
            if "type" not in e:
                self.err(path, "a block element is missing required key 'type'")
            else:
                self.err(f"{path}.type", f"element type {kind!r} is not allowed here "
                         f"(allowed: {', '.join(allowed)})")
            return e
        if kind == "button":
            self.button(e, path)
        else:
            self.image_element(e, path)
        return e

    def button(self, e: Obj, path: str) -> None:
        self.keys(e, path, "a button element", ("type", "text"),
                  ("action_id", "url", "value", "style", "confirm", "accessibility_label"))
        if "text" in e:
            self.text(e["text"], f"{path}.text", max_len=MAX_BUTTON_TEXT, plain_only=True)
        self.string(e, "action_id", path, max_len=MAX_ACTION_ID)
        self.string(e, "url", path, max_len=MAX_URL)
        self.string(e, "value", path, max_len=MAX_BUTTON_VALUE)
        self.string(e, "style", path, choices=BUTTON_STYLES)
        self.string(e, "accessibility_label", path, max_len=MAX_ACCESSIBILITY_LABEL)
        if "confirm" in e:
            self.confirm(e["confirm"], f"{path}.confirm")

    def image_element(self, e: Obj, path: str) -> None:
        self.keys(e, path, "an image element", ("type", "alt_text"), ("image_url", "slack_file"))
        self.string(e, "alt_text", path)
        self.image_source(e, path)

    def image_source(self, o: Obj, path: str) -> None:
        """Exactly one of ``image_url`` / ``slack_file`` (a Slack image file object: ``url`` or ``id``)."""
        if ("image_url" in o) == ("slack_file" in o):
            self.err(path, "exactly one of 'image_url' or 'slack_file' is required")
        self.string(o, "image_url", path, max_len=MAX_URL)
        if "slack_file" in o:
            p = f"{path}.slack_file"
            f = self.obj(o["slack_file"], p, "a Slack file object")
            if f is not None:
                self.keys(f, p, "a Slack file object", (), ("url", "id"))
                if ("url" in f) == ("id" in f):
                    self.err(p, "a Slack file object needs exactly one of 'url' or 'id'")
                self.string(f, "url", p)
                self.string(f, "id", p)

    # ------------------------------------------------------------------------ composition objects

    def text(self, value: object, path: str, *, max_len: int, plain_only: bool = False) -> None:
        t = self.obj(value, path, "a text object")
        if t is None:
            return
        self.keys(t, path, "a text object", ("type", "text"), ("emoji", "verbatim"))
        kind = self.string(t, "type", path, choices=("plain_text",) if plain_only else TEXT_TYPES)
        self.string(t, "text", path, max_len=min(max_len, MAX_TEXT))
        self.boolean(t, "emoji", path)
        self.boolean(t, "verbatim", path)
        if "emoji" in t and kind == "mrkdwn":
            self.err(f"{path}.emoji", "'emoji' is only usable when type is 'plain_text'")
        if "verbatim" in t and kind == "plain_text":
            self.err(f"{path}.verbatim", "'verbatim' is only usable when type is 'mrkdwn'")

    def confirm(self, value: object, path: str) -> None:
        c = self.obj(value, path, "a confirmation dialog")
        if c is None:
            return
        self.keys(c, path, "a confirmation dialog", ("title", "text", "confirm", "deny"), ("style",))
        for key, limit in (("title", MAX_CONFIRM_TITLE), ("text", MAX_CONFIRM_TEXT),
                           ("confirm", MAX_CONFIRM_BUTTON), ("deny", MAX_CONFIRM_BUTTON)):
            if key in c:
                self.text(c[key], f"{path}.{key}", max_len=limit, plain_only=True)
        self.string(c, "style", path, choices=BUTTON_STYLES)

    # ------------------------------------------------------------------------------- attachments

    def attachment(self, value: object, path: str) -> None:
        a = self.obj(value, path, "an attachment")
        if a is None:
            return
        for k in a:
            if k not in _ATTACHMENT_KEYS:
                self.err(f"{path}.{k}", f"unknown key {k!r} for an attachment "
                         f"(allowed: {', '.join(sorted(_ATTACHMENT_KEYS))})")
        for k in _ATTACHMENT_STR_KEYS:
            self.string(a, k, path, min_len=0)
        color = self.string(a, "color", path)
        if color is not None and color not in ATTACHMENT_COLORS and not _HEX_COLOR.fullmatch(color):
            self.err(f"{path}.color", f"must be 'good', 'warning', 'danger' or a hex color like '#439FE0', "
                     f"got {color!r}")
        if "blocks" in a:
            self.blocks(a, path)
        fields = self.array(a, "fields", path, min_items=0)
        for i, field in enumerate(fields or []):
            p = f"{path}.fields[{i}]"
            f = self.obj(field, p, "an attachment field")
            if f is not None:
                self.keys(f, p, "an attachment field", (), ("title", "value", "short"))
                self.string(f, "title", p, min_len=0)
                self.string(f, "value", p, min_len=0)
                self.boolean(f, "short", p)
        mrkdwn_in = self.array(a, "mrkdwn_in", path, min_items=0)
        for i, name in enumerate(mrkdwn_in or []):
            if name not in MRKDWN_IN:
                self.err(f"{path}.mrkdwn_in[{i}]", f"must be one of {', '.join(map(repr, MRKDWN_IN))}, got {name!r}")
        if "ts" in a:
            ts = a["ts"]
            numeric = isinstance(ts, int | float) and not isinstance(ts, bool)
            if not numeric and not (isinstance(ts, str) and re.fullmatch(r"\d+(?:\.\d+)?", ts)):
                self.err(f"{path}.ts", f"must be a Unix timestamp (number or numeric string), got {ts!r}")
        actions = self.array(a, "actions", path, min_items=0)
        for i, action in enumerate(actions or []):
            self.legacy_action(action, f"{path}.actions[{i}]")

    def legacy_action(self, value: object, path: str) -> None:
        """A legacy attachment button (``type: button``, ``text``, ``url`` / ``name`` + ``value``)."""
        act = self.obj(value, path, "an attachment action")
        if act is None:
            return
        self.keys(act, path, "an attachment action", ("type", "text"),
                  ("name", "value", "url", "style", "id", "confirm"))
        self.string(act, "type", path, choices=("button",))
        self.string(act, "text", path)
        self.string(act, "url", path, max_len=MAX_URL)
        self.string(act, "name", path)
        self.string(act, "value", path, min_len=0)
        self.string(act, "id", path)
        self.string(act, "style", path, choices=LEGACY_ACTION_STYLES)
        if "confirm" in act:
            p = f"{path}.confirm"
            c = self.obj(act["confirm"], p, "an attachment action confirmation")
            if c is not None:
                self.keys(c, p, "an attachment action confirmation", ("text",), ("title", "ok_text", "dismiss_text"))
                for k in ("title", "text", "ok_text", "dismiss_text"):
                    self.string(c, k, p)


_BLOCKS: dict[str, Callable[[_Validator, Obj, str], None]] = {
    "header": _Validator.header,
    "section": _Validator.section,
    "context": _Validator.context,
    "divider": _Validator.divider,
    "actions": _Validator.actions,
    "image": _Validator.image_block,
}

_TYPE_NAMES: dict[type, str] = {str: "a string", list: "an array", bool: "a boolean", int: "an integer"}


def _kind(value: object) -> str:
    """The JSON type name of a decoded value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
