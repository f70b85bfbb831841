"""The load generator's live progress display (``rich``) and its one-line summary."""

from __future__ import annotations

import time

from rich.console import Console
from rich.live import Live
from rich.table import Table

from instrumentation.demo.loadgen import LoadStats


def summary(stats: LoadStats) -> str:
    """One line: requests, outcomes, rate and latency."""
    return (f"{stats.sent} requests: {stats.ok} ok, {stats.client_errors} 4xx, {stats.errors} 5xx, "
            f"{stats.failures} failed; {stats.rate():.1f} req/s; p50 {stats.percentile_ms(0.5):.0f} ms, "
            f"p95 {stats.percentile_ms(0.95):.0f} ms")


def _table(stats: LoadStats, target_rate: float) -> Table:
    table = Table(title="vigil demo: load on the shop", title_justify="left", show_header=True, expand=False)
    for column in ("elapsed", "sent", "ok", "4xx", "5xx", "failed", "rate", "p50", "p95"):
        table.add_column(column, justify="right")
    elapsed = time.monotonic() - stats.started
    table.add_row(f"{elapsed:.0f}s", str(stats.sent), str(stats.ok), str(stats.client_errors),
                  f"[red]{stats.errors}[/red]" if stats.errors else "0", str(stats.failures),
                  f"{stats.rate():.1f}/{target_rate:g}", f"{stats.percentile_ms(0.5):.0f} ms",
                  f"{stats.percentile_ms(0.95):.0f} ms")
    return table


class Progress:
    """Live table on a terminal; elsewhere (pipes, CI) one summary line every ``plain_every_s``."""

    def __init__(self, target_rate: float, console: Console | None = None, plain_every_s: float = 10.0) -> None:
        """Prepare the display; :meth:`start` shows it."""
        self.console = console or Console()
        self.target_rate = target_rate
        self.plain_every_s = plain_every_s
        self._live: Live | None = None
        self._next_plain = 0.0

    def start(self) -> None:
        """Begin showing progress."""
        if self.console.is_terminal:
            self._live = Live(_table(LoadStats(), self.target_rate), console=self.console, refresh_per_second=4)
            self._live.start()
        self._next_plain = time.monotonic() + self.plain_every_s

    def update(self, stats: LoadStats) -> None:
        """Show the latest counts (the load generator's ``on_tick``)."""
        if self._live is not None:
            self._live.update(_table(stats, self.target_rate))
        elif time.monotonic() >= self._next_plain:
            self.console.print(summary(stats), highlight=False)
            self._next_plain = time.monotonic() + self.plain_every_s

    def stop(self, stats: LoadStats) -> None:
        """Stop the live display and print the final summary."""
        if self._live is not None:
            self._live.update(_table(stats, self.target_rate))
            self._live.stop()
            self._live = None
        self.console.print("load finished: " + summary(stats), highlight=False)
