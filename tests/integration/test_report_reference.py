"""Reports through the real store against the naive reference of §4, as the acceptance tests do:
random scenarios (tests/unit/test_sla_properties.py) pushed in random batches, out of order and
each batch twice, into a store of each backend (`store_factory`); the report read back (runs,
rollups, raw samples, declared maintenance) equals the reference computed from the samples, field by field. Latency
percentiles may come from hourly histograms (within 1 %, §4.6 allows 2 %); count and `met` are
exact."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slawatch.collector.reports.build import sla_report
from slawatch.collector.samples import SampleRow
from tests.stores import StoreFactory
from tests.unit.test_sla_properties import Scenario, expected, scenarios

STORE_PROPERTY = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def rows(check: str, samples: list[Any]) -> list[SampleRow]:
    no_phases = (None,) * 6
    return [
        SampleRow(
            s.ts_ms, s.ok, s.latency_ms, s.interval_ms, None, s.error, *no_phases, check, None
        )
        for s in samples
    ]


async def stored_report(
    scenario: Scenario, rnd: random.Random, stores: StoreFactory
) -> dict[str, Any]:
    async with stores.opened() as store:
        for start, end in ((i.start_ms, i.end_ms) for i in scenario.declared):
            await store.add_maintenance([scenario.sla.id], start, end, "declared", created_ms=0)
        pushes: list[tuple[str, list[SampleRow]]] = []
        for check, by_agent in scenario.samples.items():
            for agent, samples in by_agent.items():
                shuffled = rows(check, samples)
                rnd.shuffle(shuffled)
                size = rnd.randint(1, 12)
                pushes += [(agent, shuffled[i : i + size]) for i in range(0, len(shuffled), size)]
        rnd.shuffle(pushes)
        for agent, batch in pushes + rnd.sample(pushes, k=len(pushes)):  # each batch twice
            await store.ingest(agent, batch, labels=None, now_ms=scenario.now_ms)
        found = await sla_report(store, scenario.sla, scenario.window, scenario.now_ms)
        return found.report.to_json()


@pytest.mark.timeout(600)  # 80 scenarios, on a PostgreSQL server too: minutes on a loaded machine
@STORE_PROPERTY
@given(scenarios(), st.randoms(use_true_random=False))
def test_a_report_read_from_the_store_equals_the_reference(
    store_factory: StoreFactory, scenario: Scenario, rnd: random.Random
) -> None:
    got = asyncio.run(stored_report(scenario, rnd, store_factory))
    want = expected(scenario)
    got_latency, want_latency = got.pop("latency"), want.pop("latency")
    assert got == want
    for name in ("count", "objective_ms", "objective_percentile", "met"):
        assert got_latency[name] == want_latency[name], name
    for name in ("p50_ms", "p95_ms", "p99_ms", "value_ms"):
        if want_latency.get(name) is None:
            assert got_latency.get(name) is None, name
        else:
            assert got_latency[name] == pytest.approx(want_latency[name], rel=0.01), name
