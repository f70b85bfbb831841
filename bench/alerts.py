"""Alert evaluation benchmark: 1000 alerting rules evaluated by the production evaluator in one cycle.

The store is ``bench/promql.py``'s (1.56 M samples written as OTLP metrics into an embedded chDB); the
rules are its 1000 rule expressions as alerting rules (``for: 1m``) in 10 groups of 100. State and
history go to a real PostgreSQL (``--postgres-url``, default the machine's server; a throwaway
database is created and dropped) through :class:`~storage.postgres.alerting.PostgresAlerting`, as in
production. Printed: the first cycle (alerts become pending: every transition written), a second cycle
(state restored from PostgreSQL by a fresh evaluator, as after a restart) and, as a same-run baseline,
the same 1000 expressions through one ``Snapshot`` without the evaluator. A third cycle, ``for`` later,
turns the alerts firing, and the dispatcher delivers them (``group_by: [alertname]``: one signed webhook
per rule) to a local HTTP server, with the notification and delivery logs in PostgreSQL. Goal: one cycle
with its notifications within the 30 s evaluation interval.

Run from the repository root: ``python bench/alerts.py``. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import psycopg  # noqa: E402

from alerts.amconfig import load_amconfig  # noqa: E402
from alerts.dispatcher import Dispatcher  # noqa: E402
from alerts.evaluator import RuleEvaluator, group_key  # noqa: E402
from alerts.rulefile import Rule, RuleGroup  # noqa: E402
from bench import promql as pb  # noqa: E402
from query.promql.engine import Engine  # noqa: E402
from query.promql.snapshot import Snapshot  # noqa: E402
from storage.postgres.store import PostgresMetadataStore  # noqa: E402
from tests.alerts.sinks import HttpSink  # noqa: E402

CONFIG = """route: {{receiver: hook, group_by: [alertname], group_wait: 0s}}
receivers: [{{name: hook, webhook_configs: [{{url: "{url}", vigil_hmac_secret: bench}}]}}]
"""


def notify(ev: RuleEvaluator, config: Path, now_ms: int) -> tuple[float, int]:
    """Dispatch every firing alert once and wait for the deliveries: (ms, notifications sent)."""
    dispatcher = Dispatcher(load_amconfig(config), ev.repo)

    async def run() -> None:
        await dispatcher.tick(ev.notifiable(), now_ms)
        await dispatcher.drain()

    started = time.perf_counter()
    asyncio.run(run())
    return (time.perf_counter() - started) * 1000, dispatcher.sent


def groups(exprs: list[str], per_group: int) -> list[RuleGroup]:
    """The expressions as alerting rules, ``per_group`` to a group."""
    out = []
    for g in range(0, len(exprs), per_group):
        rules = [Rule("alert", f"Rule{g + i}", e, for_ms=60_000, labels={"severity": "warning"},
                      annotations={"summary": "{{ $labels.job }} is {{ $value }}"})
                 for i, e in enumerate(exprs[g:g + per_group])]
        out.append(RuleGroup(f"g{g // per_group}", "bench.yml", rules, 30_000))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", type=int, default=1000)
    ap.add_argument("--per-group", type=int, default=100)
    ap.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    t0_ms = (int(time.time()) // 60 * 60 - 86_400 - 600) * 1000
    now = t0_ms + pb.DAY_MS
    st, samples = pb.build(100, t0_ms)
    exprs = pb.rules(args.rules)
    db = f"vigil_bench_alerts_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    url = args.postgres_url.rsplit("/", 1)[0] + f"/{db}"
    try:
        store = PostgresMetadataStore(url)
        store.migrate("bench")
        with tempfile.TemporaryDirectory(prefix="vigil-bench-alerts-") as tmp:
            source, load_s = pb.columnar(st, t0_ms, tmp)
            gs = groups(exprs, args.per_group)

            def cycle(ev: RuleEvaluator, t_ms: int) -> tuple[float, int]:
                started = time.perf_counter()
                transitions = sum(len(ev.evaluate(group_key(g), t_ms)) for g in gs)
                return (time.perf_counter() - started) * 1000, transitions

            first = RuleEvaluator(source, store.alerting)
            first.load(gs)
            first_ms, first_tr = cycle(first, now)
            second = RuleEvaluator(source, store.alerting)  # a restart: state read back from PostgreSQL
            second.load(gs)
            second_ms, second_tr = cycle(second, now + 30_000)
            third_ms, third_tr = cycle(second, now + 60_000)  # `for: 1m` passed: pending → firing
            sink = HttpSink()
            (Path(tmp) / "am.yml").write_text(CONFIG.format(url=sink.url("/hook")))
            try:
                notify_ms, sent = notify(second, Path(tmp) / "am.yml", now + 60_000)
                received = len(sink.requests)
            finally:
                sink.close()
            started = time.perf_counter()
            engine = Engine(Snapshot(source, now - 3_900_000, now))
            for e in exprs:
                engine.instant(e, now)
            baseline_ms = (time.perf_counter() - started) * 1000
    finally:
        with psycopg.connect(args.postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    result = {"benchmark": "alerts", "samples": samples, "rules": len(exprs), "groups": len(gs),
              "load_s": round(load_s, 1), "first_cycle_ms": round(first_ms, 1), "first_cycle_transitions": first_tr,
              "restored_cycle_ms": round(second_ms, 1), "restored_cycle_transitions": second_tr,
              "firing_cycle_ms": round(third_ms, 1), "firing_cycle_transitions": third_tr,
              "notify_ms": round(notify_ms, 1), "notifications_sent": sent, "webhooks_received": received,
              "firing_cycle_with_notifications_ms": round(third_ms + notify_ms, 1),
              "goal_ms": 30_000, "baseline_expressions_only_ms": round(baseline_ms, 1)}
    for k, v in result.items():
        print(f"{k:<34}{v!s:>12}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
