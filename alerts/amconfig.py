"""Loading and validating an Alertmanager 0.25 configuration file, plus Vigil's extension keys.

Contract: :func:`load_amconfig` returns an :class:`AmConfig` or raises :class:`YamlError` listing every
problem as ``file:line: path: message``.  What Alertmanager rejects we reject (unknown keys, undefined
or duplicate receivers, root route without receiver or with matchers/continue, undefined time
intervals, bad durations/URLs/matchers).  Secrets are never echoed.

Vigil extensions (Alertmanager itself rejects these only as unknown fields):

* top level ``vigil: {escalation_policies: {NAME: [{after: DURATION, receivers: [RECEIVER, ...]}]}}``
  -- each step's receivers must be defined; ``after`` is a duration since the group first fired;
* per route ``vigil_escalation: NAME`` -- inherited by child routes, must name a defined policy;
* per webhook config ``vigil_headers`` (extra request headers) and ``vigil_hmac_secret`` /
  ``vigil_hmac_secret_file`` (mutually exclusive): the body
  is signed with HMAC-SHA256.

Receiver types other than email/slack/webhook (pagerduty, opsgenie, ...) are loaded (their keys are not
checked) and listed in :attr:`Receiver.unsupported`; Vigil refuses to send to them at send time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from alerts.am_matchers import MatcherError, legacy_matchers, parse_matchers
from alerts.routing import Route
from alerts.timeintervals import TimeInterval, TimeIntervalError
from contracts.yamlfile import Node, YamlError, check_mapping, load_yaml
from query.promql.model import Matcher

_DUR = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_UNITS = [365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1]
_HTTP = {"basic_auth": dict, "authorization": dict, "bearer_token": str, "bearer_token_file": str,
         "tls_config": dict, "proxy_url": str, "follow_redirects": bool, "oauth2": dict, "enable_http2": bool}
_GLOBAL = {"resolve_timeout": str, "http_config": dict, "smtp_from": str, "smtp_hello": str,
           "smtp_smarthost": str, "smtp_auth_username": str, "smtp_auth_password": str,
           "smtp_auth_password_file": str, "smtp_auth_secret": str, "smtp_auth_identity": str,
           "smtp_require_tls": bool, "slack_api_url": str, "slack_api_url_file": str,
           "pagerduty_url": str, "opsgenie_api_url": str, "opsgenie_api_key": str, "wechat_api_url": str,
           "victorops_api_url": str, "telegram_api_url": str, "webex_api_url": str}
_ROUTE = {"receiver": str, "group_by": list[str], "matchers": list[str], "match": dict[str, str],
          "match_re": dict[str, str], "continue": bool, "routes": list, "group_wait": str,
          "group_interval": str, "repeat_interval": str, "mute_time_intervals": list[str],
          "active_time_intervals": list[str], "vigil_escalation": str}
_EMAIL = {"send_resolved": bool, "to": str, "from": str, "smarthost": str, "hello": str,
          "auth_username": str, "auth_password": str, "auth_password_file": str, "auth_secret": str,
          "auth_identity": str, "require_tls": bool, "tls_config": dict, "headers": dict[str, str],
          "html": str, "text": str}
_SLACK = {"send_resolved": bool, "api_url": str, "api_url_file": str, "channel": str, "username": str,
          "color": str, "title": str, "title_link": str, "pretext": str, "text": str, "fields": list,
          "short_fields": bool, "footer": str, "fallback": str, "callback_id": str, "icon_emoji": str,
          "icon_url": str, "image_url": str, "thumb_url": str, "link_names": bool, "mrkdwn_in": list,
          "actions": list, "http_config": dict}
_WEBHOOK = {"send_resolved": bool, "url": str, "url_file": str, "max_alerts": int, "http_config": dict,
            "vigil_hmac_secret": str, "vigil_hmac_secret_file": str, "vigil_headers": dict[str, str]}
_OTHER = ("pagerduty_configs", "opsgenie_configs", "wechat_configs", "pushover_configs",
          "victorops_configs", "sns_configs", "telegram_configs", "webex_configs", "discord_configs")
_RULE = {"source_matchers": list[str], "target_matchers": list[str], "equal": list[str],
         "source_match": dict[str, str], "source_match_re": dict[str, str],
         "target_match": dict[str, str], "target_match_re": dict[str, str]}


def parse_am_duration(text: str) -> int:
    """Milliseconds of a Prometheus model duration (``1h30m``, ``1d``); raises ValueError."""
    if text == "0":
        return 0
    m = _DUR.match(text)
    if not text or m is None:
        raise ValueError(f'not a valid duration string: "{text}"')
    return sum(int(g) * u for g, u in zip(m.groups(), _UNITS, strict=True) if g)


@dataclass
class Receiver:
    """A receiver: name and its raw (plain) configs by type; ``unsupported`` types Vigil cannot send."""

    name: str
    configs: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)
    unsupported: list[str] = field(default_factory=list)


@dataclass
class InhibitRule:
    """An inhibition rule (legacy ``*_match`` maps already folded into matchers)."""

    source: list[Matcher]
    target: list[Matcher]
    equal: tuple[str, ...]


@dataclass
class AmConfig:
    """A validated configuration."""

    route: Route
    receivers: dict[str, Receiver]
    inhibit_rules: list[InhibitRule]
    time_intervals: dict[str, list[TimeInterval]]
    templates: list[str]
    global_: dict[str, Any] = field(repr=False, default_factory=dict)
    escalation_policies: dict[str, list[tuple[int, list[str]]]] = field(default_factory=dict)


class _Loader:
    def __init__(self, problems: list[str]) -> None:
        self.p = problems
        self.route_refs: list[tuple[Node, str]] = []
        self.interval_refs: list[tuple[Node, str]] = []
        self.policy_refs: list[tuple[Node, str]] = []

    def duration(self, node: Node, default: int) -> int:
        try:
            return parse_am_duration(str(node.value))
        except ValueError:
            self.p.append(node.problem(f'not a valid duration string: "{node.value}"'))
            return default

    def matchers(self, keys: dict[str, Node], new: str, eq: str, rx: str) -> list[Matcher]:
        out: list[Matcher] = []
        for item in keys[new].value if new in keys else []:
            try:
                out += parse_matchers(item.value)
            except MatcherError as exc:
                self.p.append(item.problem(str(exc)))
        try:
            out += legacy_matchers(keys[eq].plain() if eq in keys else {}, keys[rx].plain() if rx in keys else {})
        except MatcherError as exc:
            self.p.append(keys[rx].problem(str(exc)))
        return out

    def timing(self, k: dict[str, Node], key: str, inherited: int) -> int:
        return self.duration(k[key], 1) if key in k else inherited

    def route(self, node: Node, parent: Route | None, index: int) -> Route:
        k = check_mapping(node, _ROUTE, self.p, required=("receiver",) if parent is None else ())
        ms = self.matchers(k, "matchers", "match", "match_re")
        gb = [n.value for n in k["group_by"].value] if "group_by" in k else None
        if gb is not None:
            if "..." in gb and len(gb) > 1:
                self.p.append(k["group_by"].problem(
                    "cannot have wildcard group_by (`...`) and other labels at the same time"))
            if len(set(gb)) != len(gb):
                self.p.append(k["group_by"].problem("duplicated label in group_by"))
        base = parent or Route(receiver="")
        none = Node([], node.mark)
        r = Route(receiver=k["receiver"].value if "receiver" in k else base.receiver,
                  group_by=tuple(x for x in gb if x != "...") if gb is not None else base.group_by,
                  group_by_all=("..." in gb) if gb is not None else base.group_by_all,
                  matchers=ms, continue_=bool(k["continue"].value) if "continue" in k else False,
                  group_wait_ms=self.timing(k, "group_wait", base.group_wait_ms),
                  group_interval_ms=self.timing(k, "group_interval", base.group_interval_ms),
                  repeat_interval_ms=self.timing(k, "repeat_interval", base.repeat_interval_ms),
                  mute_time_intervals=tuple(n.value for n in k.get("mute_time_intervals", none).value),
                  active_time_intervals=tuple(n.value for n in k.get("active_time_intervals", none).value),
                  escalation=k["vigil_escalation"].value if "vigil_escalation" in k else base.escalation,
                  parent=parent, index=index)
        for key, label in (("group_interval", "group_interval"), ("repeat_interval", "repeat_interval")):
            if key in k and getattr(r, key + "_ms") == 0:
                self.p.append(k[key].problem(f"{label} cannot be zero"))
        if parent is None and (ms or r.continue_):
            self.p.append(node.problem("root route must not have any matchers" if ms
                                       else "cannot have continue in root route"))
        if "receiver" in k:
            self.route_refs.append((k["receiver"], k["receiver"].value))
        for key in ("mute_time_intervals", "active_time_intervals"):
            for n in k.get(key, Node([], node.mark)).value:
                self.interval_refs.append((n, n.value))
        if "vigil_escalation" in k:
            self.policy_refs.append((k["vigil_escalation"], k["vigil_escalation"].value))
        r.routes = [self.route(c, r, i) for i, c in enumerate(k["routes"].value)] if "routes" in k else []
        return r

    def url(self, node: Node) -> None:
        u = urlparse(str(node.value))
        if u.scheme not in ("http", "https") or not u.netloc:
            self.p.append(node.problem("unsupported scheme or invalid URL (value not shown)"))

    def receiver(self, node: Node, glob: dict[str, Node]) -> Receiver | None:
        schema: dict[str, object] = {"name": str, "email_configs": list, "slack_configs": list,
                                     "webhook_configs": list, **{o: list for o in _OTHER}}
        k = check_mapping(node, schema, self.p, required=("name",))
        if "name" not in k:
            return None
        rec = Receiver(k["name"].value)
        for kind, sch in (("email_configs", _EMAIL), ("slack_configs", _SLACK), ("webhook_configs", _WEBHOOK)):
            for item in k[kind].value if kind in k else []:
                c = check_mapping(item, sch, self.p)
                rec.configs.setdefault(kind, []).append(item.plain())
                self.one_config(kind, item, c, glob)
        for kind in _OTHER:
            if kind in k:
                rec.configs[kind] = k[kind].plain()
                rec.unsupported.append(kind)
        return rec

    def one_config(self, kind: str, item: Node, c: dict[str, Node], glob: dict[str, Node]) -> None:
        if kind == "email_configs":
            self.email(item, c, glob)
        elif kind == "slack_configs":
            self.slack(item, c, glob)
        else:
            self.webhook(item, c)

    def email(self, item: Node, c: dict[str, Node], glob: dict[str, Node]) -> None:
        if "to" not in c:
            self.p.append(item.problem("missing to address in email config"))
        if "smarthost" not in c and "smtp_smarthost" not in glob:
            self.p.append(item.problem("no global SMTP smarthost set"))
        if "from" not in c and "smtp_from" not in glob:
            self.p.append(item.problem("no global SMTP from set"))
        if "auth_password" in c and "auth_password_file" in c:
            self.p.append(item.problem(
                "at most one of auth_password & auth_password_file must be configured"))

    def slack(self, item: Node, c: dict[str, Node], glob: dict[str, Node]) -> None:
        if "api_url" in c and "api_url_file" in c:
            self.p.append(item.problem("at most one of api_url & api_url_file must be configured"))
        if "api_url" in c:
            self.url(c["api_url"])
        if not ({"api_url", "api_url_file"} & c.keys()
                or {"slack_api_url", "slack_api_url_file"} & glob.keys()):
            self.p.append(item.problem("no global Slack API URL set"))

    def webhook(self, item: Node, c: dict[str, Node]) -> None:
        if "url" in c and "url_file" in c:
            self.p.append(item.problem("at most one of url & url_file must be configured"))
        elif "url" not in c and "url_file" not in c:
            self.p.append(item.problem("one of url or url_file must be configured"))
        if "url" in c:
            self.url(c["url"])
        if "max_alerts" in c and c["max_alerts"].value < 0:
            self.p.append(c["max_alerts"].problem("max_alerts must not be negative"))
        if "vigil_hmac_secret" in c and "vigil_hmac_secret_file" in c:
            self.p.append(item.problem(
                "at most one of vigil_hmac_secret & vigil_hmac_secret_file must be configured"))
        if "http_config" in c:
            check_mapping(c["http_config"], _HTTP, self.p)


def _intervals(top: dict[str, Node], p: list[str]) -> dict[str, list[TimeInterval]]:
    intervals: dict[str, list[TimeInterval]] = {}
    for key in ("time_intervals", "mute_time_intervals"):
        for item in top[key].value if key in top else []:
            k = check_mapping(item, {"name": str, "time_intervals": list}, p, required=("name",))
            if "name" not in k:
                continue
            if k["name"].value in intervals:
                p.append(k["name"].problem(f"mute time interval {k['name'].value!r} is not unique"))
            entries = []
            for ti in k["time_intervals"].value if "time_intervals" in k else []:
                check_mapping(ti, {"times": list, "weekdays": list, "days_of_month": list, "months": list,
                                   "years": list, "location": str}, p)
                try:
                    entries.append(TimeInterval.parse(ti.plain() or {}))
                except (TimeIntervalError, ValueError, AttributeError) as exc:
                    p.append(ti.problem(str(exc)))
            intervals[k["name"].value] = entries
    return intervals


def _policies(top: dict[str, Node], ld: _Loader, p: list[str]) -> dict[str, list[tuple[int, list[str]]]]:
    policies: dict[str, list[tuple[int, list[str]]]] = {}
    vk = check_mapping(top["vigil"], {"escalation_policies": dict[str, list[object]]}, p) if "vigil" in top else {}
    for name, steps in vk["escalation_policies"].value.items() if "escalation_policies" in vk else []:
        out = []
        for step in steps.value:
            s = check_mapping(step, {"after": str, "receivers": list[str]}, p, required=("after", "receivers"))
            refs = s["receivers"].value if "receivers" in s else []
            ld.route_refs += [(n, n.value) for n in refs]
            out.append((ld.duration(s["after"], 0) if "after" in s else 0, [n.value for n in refs]))
        policies[name] = out
    return policies


def _global(top: dict[str, Node], ld: _Loader, p: list[str]) -> dict[str, Node]:
    glob = check_mapping(top["global"], _GLOBAL, p) if "global" in top else {}
    if "resolve_timeout" in glob:
        ld.duration(glob["resolve_timeout"], 0)
    for key in ("slack_api_url", "pagerduty_url"):
        if key in glob:
            ld.url(glob[key])
    if "http_config" in glob:
        check_mapping(glob["http_config"], _HTTP, p)
    return glob


def _check_refs(ld: _Loader, receivers: object, intervals: object, policies: object, p: list[str]) -> None:
    for refs, known, what in ((ld.route_refs, receivers, 'undefined receiver "{}" used in route'),
                              (ld.interval_refs, intervals, 'undefined time interval "{}" used in route'),
                              (ld.policy_refs, policies, 'undefined escalation policy "{}"')):
        for node, name in refs:
            if name not in known:  # type: ignore[operator]
                p.append(node.problem(what.format(name)))


def load_amconfig(path: str | Path) -> AmConfig:
    """Load and validate ``path``; raises :class:`YamlError` with every problem found."""
    p: list[str] = []
    root = load_yaml(path, p)
    top = check_mapping(root, {"global": dict, "route": dict, "receivers": list, "inhibit_rules": list,
                               "time_intervals": list, "mute_time_intervals": list, "templates": list[str],
                               "vigil": dict}, p)
    YamlError.raise_if(p)
    ld = _Loader(p)
    glob = _global(top, ld, p)
    intervals = _intervals(top, p)
    receivers: dict[str, Receiver] = {}
    for item in top["receivers"].value if "receivers" in top else []:
        rec = ld.receiver(item, glob)
        if rec is not None:
            if rec.name in receivers:
                p.append(item.problem(f"notification config name {rec.name!r} is not unique"))
            receivers[rec.name] = rec
    if "route" not in top:
        p.append(root.problem("no routes provided"))
        YamlError.raise_if(p)
    route = ld.route(top["route"], None, 0)
    rules = []
    for item in top["inhibit_rules"].value if "inhibit_rules" in top else []:
        k = check_mapping(item, _RULE, p)
        rules.append(InhibitRule(ld.matchers(k, "source_matchers", "source_match", "source_match_re"),
                                 ld.matchers(k, "target_matchers", "target_match", "target_match_re"),
                                 tuple(n.value for n in k["equal"].value) if "equal" in k else ()))
    policies = _policies(top, ld, p)
    _check_refs(ld, receivers, intervals, policies, p)
    YamlError.raise_if(p)
    return AmConfig(route, receivers, rules, intervals,
                    [n.value for n in top["templates"].value] if "templates" in top else [],
                    {k: v.plain() for k, v in glob.items()}, policies)
