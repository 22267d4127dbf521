"""Samples, runs and the checks and agents seen: idempotent ingest, runs right in any arrival
order and batching, a batch stored whole or not at all."""

from __future__ import annotations

import asyncio
import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slawatch.collector.engine.timeline import Run, SampleState, build_runs
from slawatch.collector.evidence.bundle import csv_lines
from slawatch.collector.samples import SampleRow
from slawatch.collector.store import Store, settling
from tests.store.support import (
    FOREVER,
    HOUR_MS,
    MINUTE,
    T0,
    every_other_minute,
    ingest,
    rollups,
    row,
)
from tests.stores import StoreFactory

# ------------------------------------------------------------------------------- idempotency


async def test_a_sample_is_stored_once_and_the_first_copy_wins(store: Store) -> None:
    first = row(T0, ok=False, latency=None, error="first")
    assert await ingest(store, [first, row(T0 + MINUTE)]) == (2, 0)
    again = row(T0, ok=True, error="second")
    assert await ingest(store, [again, row(T0 + MINUTE), row(T0 + 2 * MINUTE)]) == (1, 2)
    assert await ingest(store, [row(T0 + 3 * MINUTE), row(T0 + 3 * MINUTE)]) == (1, 1)
    assert await store.sample_count() == 4
    runs = (await store.runs(["web"], T0, T0 + HOUR_MS))["web"]["eu-1"]
    assert runs[0] == Run(T0, T0 + MINUTE, False, "first", T0, MINUTE, 1)


async def test_the_same_timestamp_from_two_agents_or_checks_is_two_samples(store: Store) -> None:
    assert await ingest(store, [row(T0), row(T0, check="db")], agent="eu-1") == (2, 0)
    assert await ingest(store, [row(T0), row(T0, check="db")], agent="us-1") == (2, 0)
    runs = await store.runs(["web", "db"], T0, T0 + 1)
    assert {check: sorted(agents) for check, agents in runs.items()} == {
        "web": ["eu-1", "us-1"],
        "db": ["eu-1", "us-1"],
    }


async def test_a_push_names_the_checks_that_got_new_samples(store: Store) -> None:
    first = await store.ingest("eu-1", [row(T0), row(T0, check="db")], labels=None, now_ms=T0)
    assert first.checks == {"web", "db"}
    again = await store.ingest("eu-1", [row(T0), row(T0 + 1, check="db")], labels=None, now_ms=T0)
    assert again.checks == {"db"}


async def test_an_empty_batch_stores_nothing_and_keeps_the_agent_seen(store: Store) -> None:
    result = await store.ingest("eu-1", [], labels={"region": "eu"}, now_ms=T0)
    assert (result.accepted, result.duplicates) == (0, 0)
    (agent,) = await store.seen_agents()
    assert (agent.id, dict(agent.labels), agent.last_push_ms) == ("eu-1", {"region": "eu"}, T0)


async def test_labels_are_the_latest_pushed_and_kept_when_a_batch_has_none(store: Store) -> None:
    await store.ingest("eu-1", [row(T0)], labels={"region": "eu"}, now_ms=T0)
    await store.ingest("eu-1", [row(T0 + MINUTE)], labels=None, now_ms=T0 + 1)
    assert dict((await store.seen_agents())[0].labels) == {"region": "eu"}
    await store.ingest("eu-1", [], labels={"region": "eu-west"}, now_ms=T0 + 2)
    (agent,) = await store.seen_agents()
    assert (dict(agent.labels), agent.last_push_ms) == ({"region": "eu-west"}, T0 + 2)


async def test_checks_seen_keep_type_latest_interval_and_first_last_seen(store: Store) -> None:
    await ingest(store, [row(T0 + MINUTE, interval_ms=30_000)])
    await ingest(store, [row(T0, interval_ms=10_000)])  # late: does not change the interval
    (check,) = await store.seen_checks()
    assert (check.id, check.type, check.interval_ms) == ("web", "http", 30_000)
    assert (check.first_seen_ms, check.last_seen_ms) == (T0, T0 + MINUTE)


async def test_the_last_sample_of_each_series_is_its_newest(store: Store) -> None:
    await ingest(store, [row(T0 + MINUTE, ok=False, latency=None, error="refused"), row(T0)])
    await ingest(store, [row(T0, latency=12.5)], agent="us-1")
    last = await store.last_samples()
    assert {agent: (s.ts_ms, s.ok, s.error) for agent, s in last["web"].items()} == {
        "eu-1": (T0 + MINUTE, False, "refused"),
        "us-1": (T0, True, None),
    }
    assert (last["web"]["us-1"].latency_ms, last["web"]["us-1"].status_code) == (12.5, 200)


@pytest.mark.parametrize("count", [1, 2, 511, 512, 513, 1000, 1023, 1537])
async def test_batches_of_any_size_are_stored_whole(store: Store, count: int) -> None:
    rows = [row(T0 + i * 1000, check=f"c{i % 7}", interval_ms=1000) for i in range(count)]
    assert await ingest(store, rows) == (count, 0)
    assert await store.sample_count() == count
    runs = await store.runs([f"c{i}" for i in range(7)], 0, FOREVER)
    assert sum(run.samples for agents in runs.values() for run in agents["eu-1"]) == count
    counts = await store.hourly_counts([f"c{i}" for i in range(7)], 0, FOREVER)
    assert sum(total for hours in counts.values() for total, _ in hours.values()) == count
    assert {c.id for c in await store.seen_checks()} == {f"c{i}" for i in range(min(count, 7))}


async def test_a_failed_batch_leaves_nothing_and_the_next_ones_go_on(store: Store) -> None:
    await ingest(store, [row(T0)])
    bad = row(T0 + MINUTE)._replace(ok=object())  # not a value a database can store
    with pytest.raises(store.errors):
        await ingest(store, [row(T0 + 2 * MINUTE, check="db"), bad])
    assert await store.sample_count() == 1
    assert list(await store.last_runs()) == ["web"]
    assert await ingest(store, [row(T0 + MINUTE), row(T0 + 2 * MINUTE, check="db")]) == (2, 0)


async def test_batches_pushed_at_once_are_each_stored_and_a_bad_one_fails_alone(
    store: Store,
) -> None:
    bad = row(T0 + 5 * MINUTE, check="db")._replace(ok=object())
    results = await asyncio.gather(
        store.ingest("eu-1", [row(T0)], labels=None, now_ms=T0),
        store.ingest("eu-1", [row(T0 + MINUTE), bad], labels=None, now_ms=T0),
        store.ingest("us-1", [row(T0), row(T0 + MINUTE)], labels=None, now_ms=T0),
        store.ingest("eu-1", [row(T0 + 2 * MINUTE), row(T0 + MINUTE)], labels=None, now_ms=T0),
        return_exceptions=True,
    )
    assert isinstance(results[1], store.errors)
    assert [(r.accepted, r.duplicates) for r in (results[0], results[2], results[3])] == [
        (1, 0), (2, 0), (2, 0),
    ]  # fmt: skip
    runs = await store.runs(["web"], 0, FOREVER)
    assert [r.samples for r in runs["web"]["eu-1"]] == [3]
    assert await store.sample_count() == 5


# -------------------------------------------------------------------------------------- runs


async def test_in_order_samples_extend_one_run_and_a_gap_or_change_starts_another(
    store: Store,
) -> None:
    await ingest(store, [row(T0), row(T0 + MINUTE)])
    await ingest(store, [row(T0 + 2 * MINUTE, ok=False, latency=None, error="timeout")])
    await ingest(store, [row(T0 + 10 * MINUTE)])
    runs = (await store.runs(["web"], T0, T0 + HOUR_MS))["web"]["eu-1"]
    assert runs == [
        Run(T0, T0 + 2 * MINUTE, True, None, T0 + MINUTE, MINUTE, 2),
        Run(T0 + 2 * MINUTE, T0 + 4 * MINUTE, False, "timeout", T0 + 2 * MINUTE, MINUTE, 1),
        Run(T0 + 10 * MINUTE, T0 + 12 * MINUTE, True, None, T0 + 10 * MINUTE, MINUTE, 1),
    ]


async def test_a_late_failure_splits_the_run_it_lands_in(store: Store) -> None:
    await ingest(store, [row(T0 + i * MINUTE) for i in range(10)])
    await ingest(store, [row(T0 + 4 * MINUTE + 30_000, ok=False, latency=None, error="503")])
    runs = (await store.runs(["web"], T0, T0 + HOUR_MS))["web"]["eu-1"]
    late = T0 + 4 * MINUTE + 30_000
    assert [(r.start_ms, r.end_ms, r.ok, r.samples) for r in runs] == [
        (T0, late, True, 5),
        (late, T0 + 5 * MINUTE, False, 1),
        (T0 + 5 * MINUTE, T0 + 11 * MINUTE, True, 5),
    ]
    assert (await store.last_runs())["web"]["eu-1"] == runs[-1]


async def test_errors_with_quotes_backslashes_braces_and_commas_are_kept_in_their_runs(
    store: Store,
) -> None:
    """In time order and late: a store may send a batch's runs as text (PostgreSQL's array
    literals), and must quote whatever an error holds."""
    errors = ['say "no", {maybe}', "C:\\temp\\x", "NULL", "", '\u00e9t\u00e9 \\"']
    await ingest(store, [row(T0 + i * 10 * MINUTE, ok=False, latency=None, error=error)
                         for i, error in enumerate(errors)])  # fmt: skip
    late = [row(T0 + i * 10 * MINUTE + 5 * MINUTE, ok=False, latency=None, error=f"late {e}")
            for i, e in enumerate(errors)]  # fmt: skip
    await ingest(store, late[::-1])
    runs = (await store.runs(["web"], T0, T0 + HOUR_MS))["web"]["eu-1"]
    expected = [e for error in errors for e in (error, f"late {error}")]
    assert [run.error for run in runs] == expected


async def test_a_late_sample_before_a_change_keeps_the_run_cut_where_the_change_is(
    store: Store,
) -> None:
    await ingest(store, [row(T0 + i * MINUTE) for i in range(10) if i != 4])
    await ingest(store, [row(T0 + 10 * MINUTE, ok=False), row(T0 + 11 * MINUTE)])
    await ingest(store, [row(T0 + 4 * MINUTE)])
    runs = (await store.runs(["web"], T0, T0 + HOUR_MS))["web"]["eu-1"]
    assert [(r.start_ms, r.end_ms, r.ok, r.samples) for r in runs] == [
        (T0, T0 + 10 * MINUTE, True, 10),
        (T0 + 10 * MINUTE, T0 + 11 * MINUTE, False, 1),
        (T0 + 11 * MINUTE, T0 + 13 * MINUTE, True, 1),
    ]


async def test_a_gap_filled_newest_first_gives_the_runs_of_in_order_arrival(store: Store) -> None:
    samples = [row(T0 + i * 10_000, ok=i % 50 < 45, interval_ms=10_000) for i in range(600)]
    await ingest(store, samples[:100])
    backlog = samples[100:]
    for end in range(len(backlog), 0, -37):  # the shipper sends the newest first
        await ingest(store, backlog[max(0, end - 37) : end])
    expected = build_runs(SampleState(r.ts_ms, r.ok, r.interval_ms, r.error) for r in samples)
    assert (await store.runs(["web"], 0, FOREVER))["web"]["eu-1"] == expected
    assert (await store.last_runs())["web"]["eu-1"] == expected[-1]


async def test_runs_only_overlapping_the_window_are_read(store: Store) -> None:
    await ingest(store, [row(T0), row(T0 + 10 * MINUTE, ok=False), row(T0 + 20 * MINUTE)])
    runs = (await store.runs(["web"], T0 + 5 * MINUTE, T0 + 12 * MINUTE))["web"]["eu-1"]
    assert [r.start_ms for r in runs] == [T0 + 10 * MINUTE]
    assert await store.runs(["web"], T0 + 3 * MINUTE, T0 + 9 * MINUTE) == {}
    assert await store.runs(["other"], T0, T0 + HOUR_MS) == {}
    assert await store.runs([], T0, T0 + HOUR_MS) == {}


async def test_the_run_covering_an_instant_even_behind_a_sample_from_the_future(
    store: Store,
) -> None:
    await ingest(store, [row(T0), row(T0 + MINUTE, ok=False), row(T0 + 2 * MINUTE)])
    at = await store.runs_at(T0 + MINUTE + 1)
    assert at["web"]["eu-1"].ok is False
    assert await store.runs_at(T0 + HOUR_MS) == {}


async def test_runs_rollups_and_duplicates_survive_a_restart(store_factory: StoreFactory) -> None:
    database = store_factory.new_database()
    try:
        async with store_factory.opened(database) as first:
            await ingest(first, [row(T0), row(T0 + MINUTE)])
        async with store_factory.opened(database) as second:
            assert await ingest(second, [row(T0 + MINUTE), row(T0 + 2 * MINUTE)]) == (1, 1)
            runs = (await second.runs(["web"], 0, FOREVER))["web"]["eu-1"]
            assert runs == [Run(T0, T0 + 4 * MINUTE, True, None, T0 + 2 * MINUTE, MINUTE, 3)]
            assert await second.last_runs() == {"web": {"eu-1": runs[0]}}
            assert await second.hourly_counts(["web"], 0, FOREVER) == {"web": {T0: (3, 3)}}
    finally:
        store_factory.drop(database)


# Samples are a function of their timestamp, so duplicates are identical copies and the runs do
# not depend on which copy arrived first.
def _sample_at(check: str, k: int, seed: int) -> SampleRow:
    mix = (k * 2654435761 + seed) % 1000
    ok = mix % 5 != 0
    interval = (20_000, 30_000, 60_000, 200_000)[mix % 4]
    latency = 1 + (mix * 37 % 5000) / 10 if ok else None
    return row(T0 + k * 47_000, ok, check=check, interval_ms=interval, latency=latency,
               error=None if ok else f"error {mix}")  # fmt: skip


sample_sets = st.lists(
    st.tuples(st.sampled_from(["web", "db"]), st.integers(0, 150)), min_size=1, max_size=120
)


@settings(max_examples=60, deadline=None)
@given(keys=sample_sets, seed=st.integers(0, 10_000), data=st.data())
def test_any_arrival_order_and_batching_gives_the_runs_and_rollups_of_in_order_arrival(
    store_factory: StoreFactory, keys: list[tuple[str, int]], seed: int, data: st.DataObject
) -> None:
    rows = [_sample_at(check, k, seed) for check, k in keys]
    order = data.draw(st.permutations(rows))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(rows) - 1)), max_size=6)))
    batches = [order[i:j] for i, j in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    batches = [b for b in batches if b]

    async def scenario() -> None:
        async with store_factory.opened() as in_order, store_factory.opened() as shuffled:
            await ingest(in_order, sorted(rows, key=lambda r: r.ts_ms))
            total = [await ingest(shuffled, batch) for batch in batches]
            assert sum(a for a, _ in total) == len(set(rows))
            assert sum(a + d for a, d in total) == len(rows)
            for check in ("web", "db"):
                unique = sorted({r.ts_ms: r for r in rows if r.check == check}.values(),
                                key=lambda r: r.ts_ms)  # fmt: skip
                expected = build_runs(unique)
                for store in (in_order, shuffled):
                    got = (await store.runs([check], 0, FOREVER)).get(check, {}).get("eu-1", [])
                    assert got == expected
                assert await rollups(in_order, check) == await rollups(shuffled, check)
                assert await in_order.last_runs() == await shuffled.last_runs()

    asyncio.run(scenario())


async def test_a_read_ahead_of_the_merge_due_misses_the_late_samples_until_a_merge_after_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settling, "SETTLE_AFTER_S", 3600)  # no timer's merge during the test
    newest, late = every_other_minute()
    await ingest(store, newest)
    with store.ahead_of_merge() as nothing_due:
        assert nothing_due is None  # nothing set aside: reads see everything, as always
        assert (await store.runs(["web"], 0, FOREVER))["web"]["eu-1"] == build_runs(newest)
    assert await ingest(store, late) == (len(late), 0)
    with store.ahead_of_merge() as merged:
        assert merged is not None
        assert (await store.runs(["web"], 0, FOREVER))["web"]["eu-1"] == build_runs(newest)
        assert (await store.last_runs())["web"]["eu-1"] == build_runs(newest)[-1]
    assert not merged.done()
    # Any other read waits for the merge, which ends the wait of the reads that went ahead.
    everything = build_runs(sorted(newest + late))
    assert (await store.runs(["web"], 0, FOREVER))["web"]["eu-1"] == everything
    assert merged.done()
    with store.ahead_of_merge():
        assert (await store.runs(["web"], 0, FOREVER))["web"]["eu-1"] == everything


# ------------------------------------------------------------------------------- raw samples


async def test_raw_samples_stream_by_check_agent_and_time_in_chunks(store: Store) -> None:
    await ingest(store, [row(T0 + 2 * MINUTE), row(T0, ok=False, latency=None, error="refused"),
                         row(T0 + MINUTE, check="db"), row(T0 + 5 * MINUTE)], agent="us-1")  # fmt: skip
    await ingest(store, [row(T0 + MINUTE), row(T0 + 3 * MINUTE), row(T0, check="other")])
    chunks = [
        chunk async for chunk in store.raw_samples(["web", "db"], T0, T0 + 5 * MINUTE, chunk=2)
    ]
    assert all(1 <= len(chunk) <= 2 for chunk in chunks)
    found = [tuple(r) for chunk in chunks for r in chunk]
    assert [(r[0], r[1], r[2]) for r in found] == [
        ("db", "us-1", T0 + MINUTE),
        ("web", "eu-1", T0 + MINUTE),
        ("web", "eu-1", T0 + 3 * MINUTE),
        ("web", "us-1", T0),
        ("web", "us-1", T0 + 2 * MINUTE),
    ]
    refused = found[3]
    assert (bool(refused[3]), refused[4], refused[5], refused[6], refused[7]) == (
        False, None, MINUTE, 200, "refused",
    )  # fmt: skip
    assert [c async for c in store.raw_samples([], T0, FOREVER)] == []


async def test_raw_sample_csv_rows_make_the_lines_csv_writer_writes(store: Store) -> None:
    """The database renders the end of each line (`CsvSampleRows`): errors quoted where they
    must be, null as empty, on every backend as `csv.writer` over `raw_samples`."""
    errors = [None, "", "refused", 'said "no"', "a, b", "line\nbreak", "cr\ronly", "crlf\r\n",
              " spaced ", "ünïcode ✓", "%s %d {}", "\"", ","]  # fmt: skip
    latencies = [50.0, None, 0.30000000000000004, 1e-05, 1e16, 0.0, 120.0, 107.36597055400621]
    rows = [
        row(T0 + i * MINUTE, ok=i % 3 != 0, latency=latencies[i % len(latencies)],
            error=errors[i % len(errors)])._replace(status_code=None if i % 4 == 0 else 200 + i)
        for i in range(2 * len(errors))
    ]  # fmt: skip
    await ingest(store, rows, agent="us-1")
    await ingest(store, rows[:5])
    await ingest(store, [row(T0, check="db")])
    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\r\n")
    async for chunk in store.raw_samples(["web", "db"], T0, FOREVER):
        writer.writerows(chunk)
    found, sizes = [], []
    async for rendered in store.raw_sample_csv_rows(["web", "db"], T0, FOREVER, chunk=7):
        sizes.append(len(rendered.rows))
        ts_ms, ok, latency_ms, tails = zip(*rendered.rows, strict=True)
        found.append(csv_lines(rendered.check, rendered.agent, ts_ms=ts_ms, ok=ok,
                               latency_ms=latency_ms, tails=tails))  # fmt: skip
    assert "".join(found) == expected.getvalue()
    assert sizes == [1, 5, 7, 7, 7, 5]
    assert [c async for c in store.raw_sample_csv_rows([], T0, FOREVER)] == []
