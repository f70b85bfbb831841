"""The rule files in force: every ``*.yml`` / ``*.yaml`` of a directory (or one file), reloaded safely.

:class:`RuleSet.reload` reads every file with :func:`alerts.rulefile.load_rule_file`. When any file has a
problem, the whole new set is refused: the last good set stays in force and the problems
(``file:line:col: message``) are kept in :attr:`RuleSet.problems` for ``/api/rules`` and the log. When
every file is valid, the new set replaces the old one. :meth:`RuleSet.changed` tells whether a file
was added, removed or modified since the last reload (by name, size and mtime), for polling.
Group names must be unique within a file, as Prometheus requires; groups of different files may share
names (their key is ``file:name``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from alerts.rulefile import RuleGroup, load_rule_file

log = logging.getLogger("vigil.alerts")


def rule_files(path: Path) -> list[Path]:
    """The rule files of ``path``: the file itself, or a directory's ``*.yml``/``*.yaml`` in name order."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".yml", ".yaml")
                  and not p.name.startswith("."))


@dataclass
class RuleSet:
    """The groups in force, loaded from ``path``."""

    path: Path | None  # None: no rule files configured (an empty set, always valid)
    groups: list[RuleGroup] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    loaded_at: float = 0.0
    reloads: int = 0
    failed_reloads: int = 0
    _seen: dict[str, tuple[int, int]] = field(default_factory=dict)

    def _signature(self) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for p in rule_files(self.path) if self.path is not None else []:
            try:
                st = p.stat()
            except OSError:
                continue
            out[str(p)] = (st.st_size, st.st_mtime_ns)
        return out

    def changed(self) -> bool:
        """Whether a rule file was added, removed or modified since the last :meth:`reload`."""
        return self._signature() != self._seen

    def reload(self) -> bool:
        """Load every file; True when the new set is in force, False when refused (problems kept)."""
        self._seen = self._signature()
        groups: list[RuleGroup] = []
        problems: list[str] = []
        if self.path is not None and not self.path.exists():
            problems.append(f"{self.path}: no such file or directory")
        for f in rule_files(self.path) if self.path is not None else []:
            found, errs = load_rule_file(f)
            groups.extend(found)
            problems.extend(errs)
        self.problems = problems
        if problems:
            self.failed_reloads += 1
            log.warning("rule files refused, the previous %d groups stay in force:\n%s", len(self.groups),
                        "\n".join(problems[:20]))
            return False
        self.groups, self.loaded_at = groups, time.time()
        self.reloads += 1
        log.info("rule files loaded: %d groups, %d rules", len(groups), sum(len(g.rules) for g in groups))
        return True
