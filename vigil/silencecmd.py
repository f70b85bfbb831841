"""``vigil silence add|list|expire``: manage alert silences in the metadata store, with an audit entry each.

Like ``vigil token``, the command opens the metadata store as ``vigil serve`` would (``--postgres-url`` /
``VIGIL_POSTGRES_URL``, else the embedded server under ``--data-dir``; a running server is fine) and acts
on it directly; the running evaluator sees the change at its next evaluation. Matchers use
Alertmanager's syntax (``service_name="checkout"``, ``severity=~"warning|critical"``, like ``amtool
silence add``). Audit entries name the actor ``cli:<user>``.

Exit codes: 0 done, 1 store failure or no such silence, 2 invalid usage (a bad matcher or duration).
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from datetime import UTC, datetime
from typing import Any

from vigil.tokencmd import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, add_store_options, open_metadata


def add_silence_parser(sub: Any) -> None:
    """Add ``silence`` with its ``add``, ``list`` and ``expire`` subcommands."""
    help_ = "add, list and expire alert silences"
    p = sub.add_parser("silence", help=help_, description=help_)
    actions = p.add_subparsers(dest="silence_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="silence the alerts matching every matcher")
    add.add_argument("matchers", nargs="+", metavar="MATCHER", help='e.g. service_name="checkout" severity=~"warn.*"')
    add.add_argument("--duration", default="1h", help="how long, a Prometheus duration (default 1h)")
    add.add_argument("--comment", default="", help="why")
    lst = actions.add_parser("list", help="active and pending silences (--all: expired ones too)")
    lst.add_argument("--all", action="store_true", help="include expired silences")
    expire = actions.add_parser("expire", help="end a silence now")
    expire.add_argument("silence_id", metavar="ID")
    add_store_options(actions)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _matchers(texts: list[str]) -> list[list[str]]:
    from alerts.am_matchers import parse_matchers

    out: list[list[str]] = []
    for text in texts:
        out.extend([m.name, m.op, m.value] for m in parse_matchers(text))
    if all((op in ("=", "=~") and v == "") or op in ("!=", "!~") for _, op, v in out):
        raise ValueError("at least one matcher must select something (a non-empty = or =~)")
    return out


def run_silence_command(args: argparse.Namespace) -> int:
    """Run ``vigil silence …``; return its exit code."""
    from contracts.durations import DurationError, parse_duration_ms

    now_ms = int(time.time() * 1000)
    if args.silence_command == "add":
        try:
            matchers = _matchers(args.matchers)
            duration_ms = parse_duration_ms(args.duration)
        except (ValueError, DurationError) as exc:
            print(f"vigil silence: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if duration_ms <= 0:
            print("vigil silence: --duration must be positive", file=sys.stderr)
            return EXIT_USAGE
    component = open_metadata(args, "silence")
    if isinstance(component, int):
        return component
    actor = f"cli:{getpass.getuser()}"
    try:
        repo, audit = component.store.alerting, component.store.audit
        if args.silence_command == "add":
            s = repo.add_silence(matchers, now_ms, now_ms + duration_ms, actor, args.comment, now_ms)
            audit.record(actor, "silence.create", s.id, {"matchers": matchers, "ends_at_ms": s.ends_at_ms})
            print(s.id)
        elif args.silence_command == "list":
            print(f"{'ID':36}  {'STATE':8}  {'ENDS (UTC)':19}  {'BY':16}  MATCHERS  COMMENT")
            for s in repo.silences():
                state = s.state(now_ms)
                if state == "expired" and not args.all:
                    continue
                shown = ",".join(f'{n}{op}"{v}"' for n, op, v in s.matchers)
                print(f"{s.id:36}  {state:8}  {_when(s.ends_at_ms):19}  {s.created_by[:16]:16}  {shown}  {s.comment}")
        else:
            expired = repo.expire_silence(args.silence_id, now_ms)
            if expired is None:
                print(f"vigil silence: no silence with id {args.silence_id!r}", file=sys.stderr)
                return EXIT_FAILURE
            audit.record(actor, "silence.expire", expired.id, {})
            print(f"expired {expired.id}")
        return EXIT_OK
    finally:
        component.close(5.0)
