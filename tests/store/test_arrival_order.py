"""Runs, rollups and reports do not depend on the order samples arrive in (CONTRACT §3.1).

A trace of long runs with short outages, gaps and changes of interval, for two checks seen by
two agents, is stored in time order in one store; in another, a random part of it is stored
first (in time order), then the rest arrives shuffled, in random batches of mixed agents, each
batch sent twice: late samples land inside stored runs (cutting them), in the gaps between them,
before the first and after the last. Both stores must then hold the runs of all the samples, the
same rollups, and give the same report, field by field.
"""

from __future__ import annotations

import asyncio
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slawatch.collector.engine.periods import Window
from slawatch.collector.engine.timeline import build_runs
from slawatch.collector.reports.build import sla_report
from slawatch.collector.samples import SampleRow
from slawatch.collector.store import Store
from slawatch.config.schema import LatencyObjective, Sla
from tests.store.support import FOREVER, HOUR_MS, T0, rollups, row
from tests.stores import StoreFactory

CHECKS = ("web", "db")
AGENTS = ("eu-1", "us-1")
SLA = Sla(id="shop", name="Shop", checks=CHECKS, objective=99.5, customer="acme",
          min_downtime=90.0, latency=LatencyObjective(0.3, 95.0))  # fmt: skip


def series_trace(rnd: random.Random, check: str) -> list[SampleRow]:
    """One agent's samples of `check`: mostly regular, with outages, gaps and interval changes;
    each failure with an error of its own (the first error of a run must be the right one)."""
    samples = []
    ts = T0 + rnd.randrange(0, 600_000)
    interval = rnd.choice((10_000, 30_000, 60_000))
    ok = True
    for _ in range(rnd.randint(1, 160)):
        if rnd.random() < 0.06:
            ok = not ok
        if rnd.random() < 0.04:
            interval = rnd.choice((5_000, 10_000, 30_000, 60_000))
        error = None if ok else f"error at {ts}"
        latency = round(rnd.uniform(5, 900), 3) if ok else None
        samples.append(row(ts, ok, check=check, interval_ms=interval, latency=latency, error=error))
        gap = rnd.random()
        ts += interval * (3 if gap < 0.03 else 1) + rnd.randrange(-999, 1000)
    return samples


async def push(store: Store, batches: list[tuple[str, list[SampleRow]]]) -> None:
    for agent, batch in batches:
        await store.ingest(agent, batch, labels=None, now_ms=T0)


async def holdings(store: Store, now_ms: int) -> tuple[object, ...]:
    """What the store derives: runs, each series' last run, rollups, and the report."""
    runs = await store.runs(list(CHECKS), 0, FOREVER)
    window = Window(T0 - HOUR_MS, T0 + 12 * HOUR_MS)
    report = (await sla_report(store, SLA, window, now_ms)).report.to_json()
    rolled = [await rollups(store, check) for check in CHECKS]
    return runs, await store.last_runs(), rolled, report


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.randoms(use_true_random=False),
    st.sampled_from((0.0, 0.3, 0.8, 0.97)),
    st.integers(1, 80),
)
def test_samples_in_any_order_and_batching_give_the_runs_rollups_and_report_of_time_order(
    store_factory: StoreFactory, rnd: random.Random, stored_first: float, largest_batch: int
) -> None:
    traces = {(agent, check): series_trace(rnd, check) for agent in AGENTS for check in CHECKS}
    in_time = [(agent, samples) for (agent, _), samples in traces.items()]
    first: list[tuple[str, list[SampleRow]]] = []
    late: list[tuple[str, SampleRow]] = []
    for (agent, _), samples in traces.items():
        early = [rnd.random() < stored_first for _ in samples]
        first.append((agent, [s for s, e in zip(samples, early, strict=True) if e]))
        late += [(agent, s) for s, e in zip(samples, early, strict=True) if not e]
    rnd.shuffle(late)
    batches = []
    while late:
        size = rnd.randint(1, largest_batch)
        part, late = late[:size], late[size:]
        for agent in AGENTS:  # a batch is one agent's; the others' go in the next ones
            if mine := [sample for who, sample in part if who == agent]:
                batches.append((agent, mine))
    resent = [batch for batch in batches for _ in range(2)]
    now_ms = max(s.ts_ms for samples in traces.values() for s in samples) + 10 * 60_000

    async def scenario() -> None:
        async with store_factory.opened() as ordered, store_factory.opened() as shuffled:
            await push(ordered, in_time)
            await push(shuffled, [batch for batch in first if batch[1]] + resent)
            expected = await holdings(ordered, now_ms)
            got = await holdings(shuffled, now_ms)
            for (agent, check), samples in traces.items():
                assert got[0][check][agent] == build_runs(samples), (agent, check)
            assert got[0] == expected[0]
            assert got[1] == expected[1]
            assert got[2] == expected[2]
            assert got[3] == expected[3]
            total = sum(len(samples) for samples in traces.values())
            assert await shuffled.sample_count() == await ordered.sample_count() == total

    asyncio.run(scenario())
