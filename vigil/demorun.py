"""One ``vigil demo`` run: start the parts in order, drive the load, stop everything in reverse.

Children run in their own sessions, so Ctrl-C reaches only the demo, which then stops them in order:
the shop first (its services flush their telemetry into a Vigil that is still running), then Vigil,
then the shop's embedded database. See :mod:`vigil.demo` for the options and exit codes.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Any

from instrumentation.demo.check import check_signals
from instrumentation.demo.display import Progress
from instrumentation.demo.loadgen import LoadGenerator, LoadStats
from instrumentation.demo.schema import ensure_database
from instrumentation.demo.shop import Shop
from vigil.demo import EXIT_FAILURE, EXIT_OK, Options, VigilChild, rules_file

SHOP_DATABASE = "vigil_demo_shop"


def _say(text: str) -> None:
    print(text, flush=True)


class DemoRun:
    """The parts one ``vigil demo`` started, and their order."""

    def __init__(self, opts: Options) -> None:
        """Nothing starts before :meth:`run`."""
        self.opts = opts
        self.data_dir = Path(opts.args.data_dir).resolve()
        self.vigil: VigilChild | None = None
        self.shop: Shop | None = None
        self._pg_server: Any = None
        self.started = time.time()
        self.stats: LoadStats | None = None

    def _shop_database(self) -> str:
        """The shop's database URL: ``--postgres-url``, or a database on an embedded server under the data dir."""
        if self.opts.args.postgres_url:
            return str(self.opts.args.postgres_url)
        from storage.postgres.server import embedded_url

        admin_url, self._pg_server = embedded_url(self.data_dir / "shop")
        ensure_database(admin_url, SHOP_DATABASE)
        base, _, query = admin_url.partition("?")
        return base.rsplit("/", 1)[0] + f"/{SHOP_DATABASE}" + (f"?{query}" if query else "")

    def _start(self) -> Shop:
        a = self.opts.args
        if not a.endpoint:
            _say(f"Starting Vigil (data in {self.data_dir}) …")
            self.vigil = VigilChild(self.opts, self.data_dir)
            self.vigil.start()
        _say("Starting the shop's database and services …")
        headers = f"authorization=Bearer {a.token}" if a.token else ""
        self.shop = Shop(self._shop_database(), self.opts.endpoint, self.data_dir / "logs", host=a.host,
                         frontend_port=a.port, seed=a.seed, decline_rate=a.decline_rate,
                         rum_src=f"{self.opts.endpoint}/rum.js", otlp_headers=headers, new_sessions=True)
        return self.shop.start()

    def _banner(self, shop: Shop) -> None:
        a = self.opts.args
        length = "until Ctrl-C" if self.opts.duration_s is None else f"for {self.opts.duration_s:g}s"
        _say("\nVigil demo is running.\n"
             f"  Dashboard:  {self.opts.api_url}/\n"
             f"  Shop:       {shop.url}/   (frontend → checkout → inventory / payments)\n"
             f"  OTLP:       {self.opts.endpoint}\n"
             f"  Rules:      {rules_file()}   (sample alert rules for this shop)\n"
             f"  Logs:       {self.data_dir / 'logs'}\n"
             f"  Load:       {a.rate:g} req/s {length}, seed {a.seed}; Ctrl-C stops everything.\n")

    async def _drive(self, shop: Shop) -> LoadStats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        progress = Progress(self.opts.args.rate)
        progress.start()
        gen = LoadGenerator(shop.url, rate=self.opts.args.rate, seed=self.opts.args.seed)
        stats = await gen.run(stop, self.opts.duration_s, on_tick=progress.update)
        progress.stop(stats)
        if not self.opts.args.check and not stop.is_set():
            _say(f"The load has ended; the shop ({shop.url}) and Vigil ({self.opts.api_url}) keep running. "
                 "Ctrl-C to stop.")
            await stop.wait()
        return stats

    def _check(self, stats: LoadStats) -> int:
        if self.shop is not None:
            self.shop.stop()  # flush every service's telemetry before looking
            self.shop = None
        findings = check_signals(self.opts.api_url, self.started, stats, token=self.opts.args.token)
        for f in findings:
            _say(f"  {'ok  ' if f.ok else 'MISSING'}  {f.name}: {f.detail}")
        missing = [f.name for f in findings if not f.ok]
        _say("demo check: every expected signal arrived" if not missing else f"demo check failed: {missing}")
        return EXIT_OK if not missing else EXIT_FAILURE

    def run(self) -> int:
        """Start, drive, (check,) stop; return the exit code."""
        try:
            shop = self._start()
            self._banner(shop)
            self.stats = asyncio.run(self._drive(shop))
            return self._check(self.stats) if self.opts.args.check else EXIT_OK
        except KeyboardInterrupt:
            return EXIT_OK
        except Exception as exc:  # noqa: BLE001 - one readable line; the logs hold the rest
            print(f"vigil demo: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop the shop, then Vigil, then the shop's embedded database (each only if this run started it)."""
        if self.shop is not None:
            _say("Stopping the shop …")
            self.shop.stop()
            self.shop = None
        if self.vigil is not None:
            _say("Stopping Vigil …")
            self.vigil.stop()
            self.vigil = None
        if self._pg_server is not None:
            self._pg_server.cleanup()
            self._pg_server = None
