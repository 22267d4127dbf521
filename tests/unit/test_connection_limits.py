"""The arithmetic of the connection cap, the once-a-minute log throttle, and the systemd units'
open-file limit (issue 15, item 1)."""

from __future__ import annotations

import resource
from pathlib import Path

from slawatch.collector.connections import (
    ACCEPT_BACKLOG,
    DEFAULT_MAX_CONNECTIONS,
    MAX_REFUSING,
    MIN_CAP,
    OTHER_FILES,
    connection_cap,
)
from slawatch.collector.log_throttle import LogThrottle

UNITS = Path(__file__).parents[2] / "contrib" / "systemd"


def test_the_cap_stays_below_the_open_file_limit() -> None:
    room = 1024 - OTHER_FILES - ACCEPT_BACKLOG - MAX_REFUSING
    assert connection_cap(None, 1024) == room
    assert connection_cap(100, 1024) == 100
    assert connection_cap(None, 65536) == DEFAULT_MAX_CONNECTIONS
    assert connection_cap(50_000, 65536) == 50_000
    assert connection_cap(None, resource.RLIM_INFINITY) == DEFAULT_MAX_CONNECTIONS
    assert connection_cap(None, 100) == MIN_CAP  # a limit too low to leave room: still serve


def test_a_repeated_failure_is_logged_at_once_then_once_a_minute_with_its_count() -> None:
    now = [1000.0]
    throttle = LogThrottle(every_s=60, clock=lambda: now[0])
    assert throttle.hit() == 1
    assert [throttle.hit() for _ in range(5)] == [None] * 5
    now[0] += 59.9
    assert throttle.hit() is None
    now[0] += 0.1
    assert throttle.hit() == 7  # the six held back and this one
    assert throttle.reset() is True
    assert throttle.reset() is False
    assert throttle.hit() == 1  # a new failure: at once


def test_both_systemd_units_raise_the_open_file_limit() -> None:
    for unit in ("slawatch-collector.service", "slawatch-agent.service"):
        lines = (UNITS / unit).read_text(encoding="utf-8").splitlines()
        assert "LimitNOFILE=65536" in lines, unit
