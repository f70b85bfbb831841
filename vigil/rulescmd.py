"""``vigil rules check FILE…``: check Prometheus rule files as ``promtool check rules`` 2.42 does.

Output per file, like promtool: ``Checking FILE`` then ``  SUCCESS: N rules found`` or ``  FAILED:``
followed by one ``file:line:col: message`` line per problem (see :mod:`alerts.rulefile`). Exit codes:
0 every file is valid, 1 any file has a problem (promtool's codes).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

EXIT_OK, EXIT_FAILURE = 0, 1


def add_rules_parser(sub: Any) -> None:
    """Add ``rules`` with its ``check`` subcommand."""
    help_ = "check Prometheus alerting and recording rule files"
    p = sub.add_parser("rules", help=help_, description=help_)
    actions = p.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="check rule files for YAML and PromQL errors (like promtool check rules)",
                               description="exit codes: 0 all files valid, 1 a file has a problem")
    check.add_argument("files", nargs="+", metavar="FILE")


def run_rules_command(args: argparse.Namespace) -> int:
    """Run ``rules check``; return the exit code."""
    from alerts.rulefile import load_rule_file, rule_count

    failed = False
    for path in args.files:
        print(f"Checking {path}")
        groups, problems = load_rule_file(path)
        if problems:
            failed = True
            print("  FAILED:")
            for problem in problems:
                print(problem)
        else:
            print(f"  SUCCESS: {rule_count(groups)} rules found")
        print()
    sys.stdout.flush()
    return EXIT_FAILURE if failed else EXIT_OK
