"""The notification configuration in force: an Alertmanager configuration file, reloaded safely.

:class:`NotifyConfigFile` mirrors :class:`alerts.rules_dir.RuleSet`: :meth:`reload` loads the file with
:func:`alerts.amconfig.load_amconfig`; an invalid file is refused (problems kept in :attr:`problems`,
``file:line: path: message``) and the last good configuration stays in force; :meth:`changed` tells
whether the file's size or mtime changed since the last reload.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from alerts.amconfig import AmConfig, load_amconfig
from contracts.yamlfile import YamlError

log = logging.getLogger("vigil.alerts")


@dataclass
class NotifyConfigFile:
    """The configuration loaded from ``path``."""

    path: Path
    config: AmConfig | None = None
    problems: list[str] = field(default_factory=list)
    _seen: tuple[int, int] | None = None

    def _signature(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_size, st.st_mtime_ns

    def changed(self) -> bool:
        """Whether the file changed since the last :meth:`reload`."""
        return self._signature() != self._seen

    def reload(self) -> bool:
        """Load the file; True when the new configuration is in force, False when it was refused."""
        self._seen = self._signature()
        try:
            self.config = load_amconfig(self.path)
        except YamlError as exc:
            self.problems = list(exc.problems)
            log.warning("alerting configuration %s refused, the previous one stays in force:\n%s", self.path,
                        "\n".join(self.problems[:20]))
            return False
        except OSError as exc:
            self.problems = [f"{self.path}: {exc.strerror or exc}"]
            log.warning("alerting configuration %s unreadable: %s", self.path, self.problems[0])
            return False
        self.problems = []
        log.info("alerting configuration %s loaded: %d receivers", self.path, len(self.config.receivers))
        return True
