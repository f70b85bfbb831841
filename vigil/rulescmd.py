"""``vigil rules check FILE…`` and ``vigil rules test FILE…``: promtool 2.42's ``check rules`` / ``test rules``.

``check``: per file, like promtool, ``Checking FILE`` then ``  SUCCESS: N rules found`` or ``  FAILED:``
followed by one ``file:line:col: message`` line per problem (see :mod:`alerts.rulefile`). Exit codes:
0 every file is valid, 1 any file has a problem (promtool's codes).

``test``: unit-test files run by :mod:`alerts.ruletest`, printed on the streams promtool uses: stdout
``Unit Testing:  FILE``, then ``  SUCCESS`` or, on stderr, warnings, ``  FAILED:`` and each error (each
followed by an empty line on stdout), then an empty line. A missing file stops everything first, as
promtool's argument check does (``vigil: error: path 'F' does not exist, try --help``). Exit codes: 0
every test passes, 1 any failure.
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
    test = actions.add_parser("test", help="run unit tests of rule files (like promtool test rules)",
                              description="exit codes: 0 all tests pass, 1 a test fails")
    test.add_argument("files", nargs="+", metavar="FILE")


def run_rules_command(args: argparse.Namespace) -> int:
    """Run ``rules check`` or ``rules test``; return the exit code."""
    from alerts.rulefile import load_rule_file, rule_count

    if args.rules_command == "test":
        return _run_tests(args.files)

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


def _run_tests(files: list[str]) -> int:
    from pathlib import Path

    from alerts.ruletest import run_file

    for path in files:
        if not Path(path).exists():
            print(f"vigil: error: path '{path}' does not exist, try --help", file=sys.stderr)
            return EXIT_FAILURE
    failed = False
    for path in files:
        print("Unit Testing: ", path, flush=True)
        result = run_file(path)
        for warning in result.warnings:
            print(warning, file=sys.stderr, flush=True)
        if result.errors:
            failed = True
            print("  FAILED:", file=sys.stderr, flush=True)
            for error in result.errors:
                print(error, file=sys.stderr, flush=True)
                print(flush=True)
        else:
            print("  SUCCESS")
        print(flush=True)
    return EXIT_FAILURE if failed else EXIT_OK
