"""Alert passes during a flood of late samples (issue 17): how long a pass takes while a history
import (a day of samples shuffled, every batch late for every series) pours in, and the rate of
that ingest, with the passes reading ahead of the merges due (this tree) or waiting for them
(the baseline: what every pass did before), on SQLite and on PostgreSQL.

    .venv/bin/python bench/alert_flood.py [--samples 400000] [--rounds 2]
                                          [--databases sqlite,postgresql]

In process, on a real store (PostgreSQL: a throwaway cluster, as the tests start it): 4 agents
push 1,000-sample batches of 50 checks each, all at once, while an evaluator (one rule watching
every check, as bench/postgres.py's collector has) makes a pass, then waits a second, as the
collector's alert service does; each ingest touches the evaluator as the collector's does. The
rate counts until every late sample is merged. `--rounds` runs of each, in turn, on new
databases. A pass that waits for a merge merges what was set aside meanwhile, on every read
of runs it makes; reading ahead, it judges what is merged, and its checks again once the merge
due (at most 5 s later) has ended.

Figures (2026-12-07, 00:30, 2 cores, 400,000 samples, 2 rounds; median pass, slowest pass):
- SQLite: reading ahead 9-12 ms, slowest 20-36 ms; waiting 1.26-1.30 s, slowest 1.7-1.9 s;
  ingest 27.9k-29.2k samples/s against 25.6k-28.7k.
- PostgreSQL: reading ahead 55-64 ms, slowest 83-217 ms; waiting 1.4-6.9 s (3-4 passes in the
  whole flood), slowest 8.5-16.7 s; ingest 22.5k-25.2k against 17.9k-22.8k.
An earlier run, before a reader coming during the timer's merge went ahead of the next one
(it waited for the one under way): slowest passes 1.2-1.7 s on SQLite, 0.6-12.1 s on
PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import structlog

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import postgres as trace  # noqa: E402  (bench/postgres.py, beside this script: its agents and trace)

from slawatch.collector.alerts.evaluator import Evaluator  # noqa: E402
from slawatch.collector.alerts.outbox import Outbox  # noqa: E402
from slawatch.collector.ingest.batch import validate_batch  # noqa: E402
from slawatch.collector.samples import SampleRow  # noqa: E402
from slawatch.collector.store import create_store  # noqa: E402
from slawatch.config.loader import parse_config  # noqa: E402
from tests.postgres_cluster import running_cluster  # noqa: E402

PASS_GAP_S = 1.0
DATABASES = ("sqlite", "postgresql")
CONFIG = """
collector:
  listen: 127.0.0.1:0
alerts:
  channels:
    - {id: hook, type: webhook, url: "http://127.0.0.1:9/hook", secret: bench-secret-0123456789}
  rules:
    - {checks: ['*'], channels: [hook]}
"""


def pushed_batches(samples: int) -> list[list[list[SampleRow]]]:
    """Each agent's batches of bench/postgres.py's trace shuffled over each day (every batch
    late for every series), as the collector's validation makes them rows."""
    start = time.time() - 3 * 86_400
    per_agent = []
    for agent in range(trace.AGENTS):
        rows = trace.agent_samples(agent, samples // trace.AGENTS, start)
        found = trace.day_shuffled(rows, agent)
        documents = ({"agent": f"a{agent}", "samples": batch} for batch in found)
        per_agent.append([
            validate_batch(document, now=time.time(), max_sample_age=400 * 86_400).samples
            for document in documents
        ])  # fmt: skip
    return per_agent


async def flood(database: Path | str, batches: list[list[list[SampleRow]]], ahead: bool,
                folder: Path) -> tuple[float, list[float]]:  # fmt: skip
    """(samples/s until merged, each pass's seconds) of the batches pushed at once."""
    store = create_store(database)
    await store.open()
    config = parse_config(CONFIG, base_dir=folder, process="collector")
    evaluator = Evaluator(
        store, config, Outbox(store, config.alerts, clock=time.time), clock=time.time,
        incremental=True,
    )  # fmt: skip
    woken = asyncio.Event()
    pushed = asyncio.Event()
    passes: list[float] = []

    async def evaluate_every_second() -> None:
        while not pushed.is_set():
            started = time.perf_counter()
            await evaluator.evaluate(budgets=False, read_ahead=woken.set if ahead else None)
            passes.append(time.perf_counter() - started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pushed.wait(), PASS_GAP_S)

    async def agent(index: int, found: list[list[SampleRow]]) -> None:
        for batch in found:
            now_ms = round(time.time() * 1000)
            result = await store.ingest(f"a{index}", batch, labels=None, now_ms=now_ms)
            oldest = {(check, f"a{index}"): min(r.ts_ms for r in batch) for check in result.checks}
            evaluator.touch(result.checks, oldest)

    try:
        started = time.perf_counter()
        evaluating = asyncio.create_task(evaluate_every_second())
        await asyncio.gather(*(agent(i, b) for i, b in enumerate(batches)))
        await store.runs([], 0, 1)  # a read: waits for the last merge
        took = time.perf_counter() - started
        pushed.set()
        await evaluating
    finally:
        await store.close()
    return sum(len(b) for found in batches for b in found) / took, passes


@contextlib.contextmanager
def databases(names: list[str], folder: Path) -> Iterator[dict[str, Callable[[], Path | str]]]:
    """name -> what makes a new database of that backend."""
    with contextlib.ExitStack() as stack:
        made: dict[str, Callable[[], Path | str]] = {}
        if "sqlite" in names:
            made["sqlite"] = lambda: folder / f"flood-{time.monotonic_ns()}.db"
        if "postgresql" in names:
            made["postgresql"] = stack.enter_context(running_cluster()).new_database
        yield made


async def main(samples: int, rounds: int, names: list[str]) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    batches = pushed_batches(samples)
    print(f"{samples:,} samples a day shuffled, {trace.AGENTS} agents, batches of"
          f" {trace.BATCH}, a pass a second")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, databases(names, Path(tmp)) as new_database:
        for name in names:
            for _ in range(rounds):
                for ahead in (True, False):
                    rate, passes = await flood(new_database[name](), batches, ahead, Path(tmp))
                    label = "reading ahead" if ahead else "waiting (baseline)"
                    print(f"{name}, {label}: {rate:,.0f} samples/s; {len(passes)} passes, median"
                          f" {statistics.median(passes) * 1000:,.0f} ms, slowest"
                          f" {max(passes) * 1000:,.0f} ms", flush=True)  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--databases", default=",".join(DATABASES),
                        help="comma-separated: " + ", ".join(DATABASES))  # fmt: skip
    args = parser.parse_args()
    chosen = [name.strip() for name in args.databases.split(",") if name.strip()]
    if not chosen or set(chosen) - set(DATABASES):
        raise SystemExit(f"--databases {args.databases}: some of {', '.join(DATABASES)}")
    asyncio.run(main(args.samples, args.rounds, chosen))
