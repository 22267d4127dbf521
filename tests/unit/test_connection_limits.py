"""The arithmetic of the connection cap, the once-a-minute log throttle, the systemd units'
open-file limit (issue 15, item 1), and the server's config keys (`max_connections`,
`metrics_token`)."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from slawatch.collector.connections import (
    ACCEPT_BACKLOG,
    DEFAULT_MAX_CONNECTIONS,
    MAX_REFUSING,
    MIN_CAP,
    OTHER_FILES,
    connection_cap,
)
from slawatch.collector.log_throttle import LogThrottle
from slawatch.config.loader import ConfigError, parse_config
from slawatch.config.schema import TokenDigest

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


@pytest.mark.parametrize(
    ("collector", "problem"),
    [
        ("max_connections: 0", "collector.max_connections: must be at least 1"),
        ("max_connections: lots", "collector.max_connections: must be a number"),
        ("metrics_token: short", "collector.metrics_token: is too short: use at least 16 characters"),
        (f"metrics_token: {'m' * 20}\n  admin_token: {'m' * 20}",
         "collector.metrics_token: is the same token as collector.admin_token"),
    ],
)  # fmt: skip
def test_the_server_s_keys_are_checked(tmp_path: Path, collector: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"collector:\n  {collector}\n", base_dir=tmp_path, process="collector")
    assert problem in caught.value.render()
    assert "m" * 20 not in caught.value.render()


def test_the_server_s_keys_have_defaults_and_take_values(tmp_path: Path) -> None:
    default = parse_config("collector: {}\n", base_dir=tmp_path, process="collector").collector
    assert default is not None
    assert (default.max_connections, default.metrics_token) == (None, None)
    given = parse_config(
        f"collector: {{max_connections: 500, metrics_token: {'t' * 20}}}\n",
        base_dir=tmp_path,
        process="collector",
    ).collector
    assert given is not None
    assert given.max_connections == 500
    assert given.metrics_token == TokenDigest.of("t" * 20)
