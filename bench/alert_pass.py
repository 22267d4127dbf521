"""What one alert evaluation pass costs the collector's event loop, with many targets (issue 15).

    .venv/bin/python bench/alert_pass.py [--agents 1000] [--checks 20] [--rounds 3]

A real SQLite store gets `--agents` agents x `--checks` checks at 10 s (one rule watching every
check, `after: 0s`, a webhook channel: the setup of bench/fleet_load.py), a few of them DOWN.
Each second, a tenth of the agents push their checks' samples (agents spread over their
interval, a pass a second as the collector makes them), then one pass is evaluated, by each of
three evaluators on stores of their own:
- **before**: every target judged on every pass, on the event loop (the code before issue 15's
  alert work: here the evaluator's worker-thread calls are made directly on the loop);
- **full, in a thread**: every target judged on every pass, the judging in a worker thread;
- **this tree**: the targets whose inputs changed or whose time came, in a worker thread.
Measured per pass after the first interval (which opens every target): its wall time, the CPU
time of the process, and the longest the event loop went without running a 1 ms ticker (what a
`/healthz` would have waited at most). Ratios are to `before`, from the same run. The machine
is shared: compare the ratios, not the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import structlog

from slawatch.collector.alerts import evaluator as evaluator_module
from slawatch.collector.alerts.evaluator import Evaluator
from slawatch.collector.alerts.outbox import Outbox
from slawatch.collector.samples import SampleRow
from slawatch.collector.store import Store, create_store
from slawatch.config.loader import parse_config

T0 = 1_795_000_000.0
INTERVAL_S = 10
DOWN_EVERY = 997
"""One check in this many fails from the second round on."""
VARIANTS = ("before", "full, in a thread", "this tree")
_T = TypeVar("_T")


def config_text(folder: Path) -> str:
    return f"""
collector:
  listen: 127.0.0.1:0
  database: {folder / "collector.db"}
alerts:
  channels:
    - {{id: hook, type: webhook, url: "http://127.0.0.1:9/hook", secret: bench-secret}}
  rules:
    - {{checks: ['*'], channels: [hook], after: 0s, repeat: 0s}}
"""


def rows(agent: int, checks: int, ts: float, down: bool) -> list[SampleRow]:
    found = []
    for check in range(checks):
        failing = down and (agent * checks + check) % DOWN_EVERY == 0
        found.append(SampleRow(round(ts * 1000), not failing, None if failing else 2.0,
                               INTERVAL_S * 1000, 503 if failing else 200,
                               "status 503" if failing else None, None, None, None, None, None,
                               None, f"a{agent:04d}-c{check:02d}", "http"))  # fmt: skip
    return found


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


async def on_the_loop(function: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
    return function(*args, **kwargs)


class Stalls:
    """The longest the event loop went without running a 1 ms ticker."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last)
            last = now

    async def measure(self, work: Callable[[], Awaitable[_T]]) -> _T:
        self.longest = 0.0
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0.01)
        try:
            return await work()
        finally:
            self._task.cancel()


async def run(args: argparse.Namespace) -> dict[str, list[tuple[float, float, float]]]:
    measured: dict[str, list[tuple[float, float, float]]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as name:
        clock = Clock()
        judges: dict[str, Evaluator] = {}
        stores: list[Store] = []
        for number, variant in enumerate(VARIANTS):
            folder = Path(name) / str(number)
            folder.mkdir()
            config = parse_config(config_text(folder), base_dir=folder, process="collector")
            store = create_store(folder / "collector.db")
            await store.open()
            stores.append(store)
            outbox = Outbox(store, config.alerts, clock=clock)
            judges[variant] = Evaluator(
                store, config, outbox, clock=clock, incremental=variant == "this tree"
            )
        stalls = Stalls()
        try:
            for second in range(args.rounds * INTERVAL_S):
                ts = T0 + second
                agents = range(second % INTERVAL_S, args.agents, INTERVAL_S)
                for store in stores:
                    for agent in agents:
                        batch = rows(agent, args.checks, ts, down=second >= INTERVAL_S)
                        await store.ingest(f"agent-{agent:04d}", batch, labels=None,
                                           now_ms=round(ts * 1000))  # fmt: skip
                clock.now = ts + 0.5
                touched = {(f"a{a:04d}-c{c:02d}", f"agent-{a:04d}"): round(ts * 1000)
                           for a in agents for c in range(args.checks)}  # fmt: skip
                for variant, judge in judges.items():
                    # as the collector's ingest tells it: the checks, and their oldest samples
                    judge.touch({check for check, _ in touched}, touched)
                    saved = evaluator_module.asyncio
                    if variant == "before":
                        evaluator_module.asyncio = SimpleNamespace(to_thread=on_the_loop)  # type: ignore[assignment]
                    try:
                        cpu, wall = time.process_time(), time.perf_counter()
                        await stalls.measure(lambda j=judge: j.evaluate(budgets=False))
                        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                    finally:
                        evaluator_module.asyncio = saved
                    if second >= INTERVAL_S:
                        measured[variant].append((wall, cpu, stalls.longest))
        finally:
            for store in stores:
                await store.close()
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--checks", type=int, default=20, help="checks per agent")
    parser.add_argument("--rounds", type=int, default=3, help="intervals of 10 s")
    args = parser.parse_args()
    if args.rounds < 2:
        raise SystemExit("--rounds must be at least 2 (the first one opens every target)")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    print(f"{args.agents} agents x {args.checks} checks = {args.agents * args.checks:,} targets; "
          f"{args.rounds} intervals of 10 s, a pass a second")  # fmt: skip
    measured = asyncio.run(run(args))
    print("-- per pass after the first interval: median (max); ratios of the medians to `before`")
    base = [statistics.median(x[i] for x in measured["before"]) for i in range(3)]
    for variant in VARIANTS:
        columns = [[x[i] * 1000 for x in measured[variant]] for i in range(3)]
        medians = [statistics.median(c) for c in columns]
        ratios = "/".join(f"{m / b / 1000:.2f}" for m, b in zip(medians, base, strict=True))
        print(f"   {variant:<18} pass {medians[0]:6.0f} ({max(columns[0]):6.0f}) ms, CPU "
              f"{medians[1]:6.0f} ({max(columns[1]):6.0f}) ms, longest loop stall "
              f"{medians[2]:5.0f} ({max(columns[2]):5.0f}) ms; ratios {ratios}")  # fmt: skip
    print(f"   load average {os.getloadavg()[0]:.1f}", file=sys.stdout)


if __name__ == "__main__":
    main()
