"""Alertmanager's routing tree (``dispatch/route.go`` semantics of 0.25).

Contract: :meth:`Route.match` walks depth-first: a route matches when its matchers accept the labels;
then its children are tried in order, stopping after the first matching child unless that child has
``continue: true``; a matching route without matching children is returned itself.  Children inherit
receiver, group_by, timings, and (Vigil) escalation policy from their parent unless set; intervals are
not inherited (as in Alertmanager).  ``group_by: ['...']`` groups by all labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from alerts.am_matchers import matches_all
from query.promql.model import Matcher


@dataclass
class Route:
    """A resolved route node (defaults already inherited)."""

    receiver: str
    group_by: tuple[str, ...] = ()
    group_by_all: bool = False
    matchers: list[Matcher] = field(default_factory=list)
    continue_: bool = False
    group_wait_ms: int = 30_000
    group_interval_ms: int = 300_000
    repeat_interval_ms: int = 14_400_000
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    escalation: str | None = None
    routes: list[Route] = field(default_factory=list)
    parent: Route | None = field(default=None, repr=False)
    index: int = 0

    def key(self) -> str:
        """Alertmanager's route key: parent key + ``/`` + matchers, ``{}`` for the root.

        (Alertmanager's route *ID* also appends the sibling index; the group key uses the key.)
        """
        own = "{" + ",".join(f'{m.name}{m.op}"{m.value}"' for m in self.matchers) + "}"
        return own if self.parent is None else f"{self.parent.key()}/{own}"

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an alert with ``labels`` goes to, in Alertmanager's order."""
        if not matches_all(self.matchers, labels):
            return []
        out: list[Route] = []
        for child in self.routes:
            got = child.match(labels)
            out.extend(got)
            if got and not child.continue_:
                break
        return out or [self]

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The labels that identify an alert's group on this route."""
        if self.group_by_all:
            return dict(labels)
        return {k: labels[k] for k in self.group_by if k in labels}

    def group_key(self, labels: Mapping[str, str]) -> str:
        """Alertmanager's group key: ``<route key>:{a="b", ...}`` with sorted group labels."""
        g = self.group_labels(labels)
        return self.key() + ":{" + ", ".join(f'{k}="{g[k]}"' for k in sorted(g)) + "}"
