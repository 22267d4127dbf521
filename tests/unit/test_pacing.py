"""The agent's push pacing on a clock of the test's: windows, state changes, the collector's pace."""

from __future__ import annotations

import pytest

from slawatch.agent.pacing import (
    BATCH_WINDOW_S,
    MAX_STRETCH,
    RETRY_AFTER_SPREAD,
    SLOW_PUSH_S,
    Backoff,
    Pacing,
)
from slawatch.agent.sample import ProbeResult, Sample
from slawatch.config.contract import MAX_PUSH_BACKOFF_S


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sample(check: str = "web", *, ok: bool = True, interval: float = 60.0) -> Sample:
    return Sample(check, 1_800_000_000.0, interval, "http", ProbeResult(ok=ok, latency_ms=3.0))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pacing(clock: Clock) -> Pacing:
    return Pacing(clock=clock)


def test_a_sample_that_changes_nothing_waits_its_window(pacing: Pacing, clock: Clock) -> None:
    assert pacing.note(sample()) is True, "the first due time wakes the shipper"
    assert pacing.until_due() == BATCH_WINDOW_S
    clock.now += 2.0
    assert pacing.note(sample("api")) is False, "due later than the first: no need to wake"
    assert pacing.until_due() == BATCH_WINDOW_S - 2.0
    clock.now += 10.0
    assert pacing.until_due() == 0.0


@pytest.mark.parametrize(
    ("interval", "window"), [(60.0, BATCH_WINDOW_S), (10.0, 5.0), (4.0, 2.0), (0.2, 0.1)]
)
def test_the_window_is_at_most_half_the_interval(
    pacing: Pacing, interval: float, window: float
) -> None:
    pacing.note(sample(interval=interval))
    assert pacing.until_due() == pytest.approx(window)


def test_state_changes_are_due_at_once(pacing: Pacing) -> None:
    pacing.note(sample(ok=True))
    assert pacing.until_due() > 0, "a first success changes nothing the collector must hear now"
    assert pacing.note(sample(ok=False)) is True
    assert pacing.until_due() == 0.0, "down"
    pacing.taken(pacing.mark())
    pacing.note(sample(ok=False))
    assert pacing.until_due() > 0, "still down: nothing new"
    pacing.note(sample(ok=True))
    assert pacing.until_due() == 0.0, "up again"
    pacing.taken(pacing.mark())
    pacing.note(sample("db", ok=False))
    assert pacing.until_due() == 0.0, "a check whose first sample fails"


def test_checks_are_told_apart(pacing: Pacing) -> None:
    pacing.note(sample("a", ok=False))
    pacing.taken(pacing.mark())
    pacing.note(sample("b", ok=True))
    assert pacing.until_due() > 0, "b is up as it was; a's failure is not b's"


def test_samples_noted_after_a_read_keep_their_due_time(pacing: Pacing) -> None:
    mark = pacing.mark()
    pacing.note(sample(ok=False))  # committed after the batch was read, perhaps not in it
    pacing.taken(mark)
    assert pacing.until_due() == 0.0
    pacing.taken(pacing.mark())
    assert pacing.until_due() == 0.0, "nothing noted: samples found in the spool go now"


def test_a_slow_collector_stretches_the_windows_and_a_fast_one_shrinks_them(
    pacing: Pacing,
) -> None:
    for expected in (2.0, 4.0, 8.0, MAX_STRETCH):
        pacing.delivered(SLOW_PUSH_S + 0.5)
        assert pacing.stretch == expected
    assert pacing.sample_window(600.0) == BATCH_WINDOW_S * MAX_STRETCH
    assert pacing.sample_window(60.0) == 30.0, "never past half the interval"
    pacing.delivered(0.05)
    assert pacing.stretch == pytest.approx(MAX_STRETCH * 0.8)
    for _ in range(50):
        pacing.delivered(0.05)
    assert pacing.stretch == 1.0


def test_shed_load_stretches_and_retry_after_is_honoured_with_spread(pacing: Pacing) -> None:
    waits = [pacing.failed(retry_after=2.0, shed=True) for _ in range(200)]
    assert all(2.0 <= wait <= 2.0 * RETRY_AFTER_SPREAD for wait in waits)
    assert max(waits) - min(waits) > 0.5, "spread, so that shed agents do not return together"
    assert pacing.stretch == MAX_STRETCH


def test_backoff_grows_to_its_cap_and_the_first_success_resets_it(pacing: Pacing) -> None:
    assert Backoff().cap == MAX_PUSH_BACKOFF_S
    first = [Pacing(backoff=Backoff(base=1.0)).failed(retry_after=None, shed=False)]
    assert all(0 <= wait <= 1.0 for wait in first)
    waits = [pacing.failed(retry_after=None, shed=False) for _ in range(40)]
    assert all(0 <= wait <= MAX_PUSH_BACKOFF_S for wait in waits)
    assert max(waits) > 1.0
    assert pacing.failures == 40
    assert pacing.until_due() == 0.0, "after a failure the retry goes at once"
    pacing.delivered(0.01)
    assert pacing.failures == 0
