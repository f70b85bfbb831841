"""Checks of the files a configuration names (ingest tokens, redaction rules, the alerting config).

:func:`file_problems` loads each with its own loader and returns every problem, prefixed with what the
file is for; ``vigil.config`` adds them to the configuration's problems, so ``vigil serve`` refuses to
start on a broken file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vigil.config import Config


def file_problems(cfg: Config) -> list[str]:
    """Every problem of the files ``cfg`` names (empty when they load)."""
    problems = []
    try:
        from receiver.auth import load_tokens

        load_tokens(cfg.auth_tokens, cfg.auth_tokens_file)
    except (OSError, ValueError) as exc:
        problems += [f"ingest tokens: {p}" for p in getattr(exc, "problems", [str(exc)])]
    try:
        from storage.clickhouse.redaction import load as load_redaction

        load_redaction(cfg.redaction_file)
    except (OSError, ValueError) as exc:
        problems += [f"redaction: {p}" for p in getattr(exc, "problems", [str(exc)])]
    if cfg.alerting_config:
        from alerts.amconfig import load_amconfig

        try:
            load_amconfig(cfg.alerting_config)
        except (OSError, ValueError) as exc:
            problems += [f"alerting config: {p}" for p in getattr(exc, "problems", [str(exc)])]
    return problems
