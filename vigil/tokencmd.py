"""``vigil token create|list|revoke``: manage API tokens in the metadata store, with an audit entry each.

The command opens the metadata store the way ``vigil serve`` would (``--postgres-url`` /
``VIGIL_POSTGRES_URL``, else the embedded server under ``--data-dir``; a running server on the same
data directory is fine — the embedded PostgreSQL is shared), applies pending migrations, acts and
closes. ``create`` prints the token once: only its hash is stored. Audit entries name the actor
``cli:<user>``.

Exit codes: 0 done, 1 store failure or nothing to revoke, 2 invalid usage or an active token already has
the name.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from contracts.access import Role, TokenExists

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def add_token_parser(sub: Any) -> None:
    """Add ``token`` with its ``create``, ``list`` and ``revoke`` subcommands."""
    help_ = "create, list and revoke API tokens (roles viewer, editor, admin)"
    p = sub.add_parser("token", help=help_, description=help_)
    actions = p.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="issue a token and print it once")
    create.add_argument("--name", required=True, help="a unique name (who or what uses it)")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    actions.add_parser("list", help="every token: id, name, role, hint, created, last used, revoked")
    revoke = actions.add_parser("revoke", help="revoke a token by name or id")
    revoke.add_argument("ref", metavar="NAME|ID")
    add_store_options(actions)


def add_store_options(actions: Any) -> None:
    """``--config``, ``--data-dir`` and ``--postgres-url`` on every subcommand of ``actions``."""
    for parser in actions.choices.values():
        parser.add_argument("--config", metavar="FILE", help="Vigil's YAML configuration file")
        parser.add_argument("--data-dir", help="Vigil's data directory (embedded PostgreSQL under <data-dir>/pg)")
        parser.add_argument("--postgres-url", help="an external metadata store instead")


def _open(args: argparse.Namespace) -> Any:
    from vigil import __version__
    from vigil.config import load
    from vigil.stores import MetadataComponent

    overrides = {k: v for k, v in (("data_dir", args.data_dir), ("postgres_url", args.postgres_url)) if v}
    component = MetadataComponent(load(args.config, overrides=overrides).metadata, __version__)
    component.open()
    return component


def _list(store: Any) -> None:
    print(f"{'ID':36}  {'NAME':20}  {'ROLE':6}  {'HINT':8}  CREATED              LAST USED            REVOKED")
    for t in store.tokens.list():
        def when(value: Any) -> str:
            return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"

        print(f"{t.id:36}  {t.name[:20]:20}  {t.role.value:6}  {t.hint:8}  {when(t.created_at):19}  "
              f"{when(t.last_used_at):19}  {when(t.revoked_at)}")


def open_metadata(args: argparse.Namespace, command: str) -> Any:
    """The opened metadata component of ``--config``/``--data-dir``/``--postgres-url``, or an exit code.

    When the store cannot be opened the user is told why (``vigil <command>: …``).
    """
    from vigil.config import ConfigError

    try:
        return _open(args)
    except ConfigError as exc:
        print(f"vigil {command}: invalid configuration: " + "; ".join(exc.problems), file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - one line for the user
        print(f"vigil {command}: cannot open the metadata store: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def run_token_command(args: argparse.Namespace) -> int:
    """Run ``vigil token …``; return its exit code."""
    actor = f"cli:{getpass.getuser()}"
    component = open_metadata(args, "token")
    if isinstance(component, int):
        return component
    try:
        store = component.store
        if args.token_command == "create":
            try:
                issued = store.tokens.create(args.name, Role(args.role))
            except TokenExists:
                print(f"vigil token: an active token is already named {args.name!r}", file=sys.stderr)
                return EXIT_USAGE
            store.audit.record(actor, "token.create", issued.record.id, {"name": args.name, "role": args.role})
            print(issued.token)
            print(f"token {args.name!r} ({args.role}, id {issued.record.id}) created; it is shown only now",
                  file=sys.stderr)
        elif args.token_command == "list":
            _list(store)
        else:
            revoked = store.tokens.revoke(args.ref)
            if revoked is None:
                print(f"vigil token: no active token named or with id {args.ref!r}", file=sys.stderr)
                return EXIT_FAILURE
            store.audit.record(actor, "token.revoke", revoked.id, {"name": revoked.name})
            print(f"revoked {revoked.name!r} ({revoked.id})")
        return EXIT_OK
    finally:
        component.close(5.0)
