"""Phase bookkeeping, the `timed` wrapper, and the words of failures."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from collections.abc import Callable

import pytest

from slawatch.agent.probes.errors import ProbeFailure, describe
from slawatch.agent.probes.progress import Progress, timed
from slawatch.agent.sample import ProbeResult
from slawatch.config.schema import Check, TcpTarget


def check(timeout: float = 1.0) -> Check:
    return Check(id="c", type="tcp", target=TcpTarget("127.0.0.1", 1), timeout=timeout)


def fake_clock(*readings: float) -> Callable[[], float]:
    return iter(readings).__next__


def test_phases_add_up_to_latency_in_whole_microseconds() -> None:
    progress = Progress(clock=fake_clock(100.0012346, 100.0211, 100.07, 100.0704996), started=100.0)
    progress.skip("dns")
    for phase in ("connect", "tls", "ttfb", "transfer"):
        progress.lap(phase)
    result = progress.finish()
    assert result.ok
    assert result.phases_ms == {
        "dns": 0.0,
        "connect": 1.235,
        "tls": 19.865,
        "ttfb": 48.9,
        "transfer": 0.5,
    }
    assert sum(round(ms * 1000) for ms in result.phases_ms.values()) == 70_500
    assert result.latency_ms == 70.5


def test_uncounted_work_is_left_out_of_phases_and_latency() -> None:
    # readings: lap dns, uncounted start, uncounted end (50 ms of local work), lap connect
    progress = Progress(clock=fake_clock(10.001, 10.002, 10.052, 10.054), started=10.0)
    progress.lap("dns")
    with progress.uncounted():
        pass
    progress.lap("connect")
    result = progress.finish()
    assert result.phases_ms == {"dns": 1.0, "connect": 3.0}  # 53 ms less the 50 uncounted
    assert result.latency_ms == 4.0


async def test_uncounted_time_moves_the_deadline() -> None:
    async with asyncio.timeout(10) as deadline:
        progress = Progress(deadline=deadline)
        before = deadline.when()
        assert before is not None
        with progress.uncounted():
            await asyncio.sleep(0.02)
        after = deadline.when()
        assert after is not None
        assert after - before >= 0.02


def test_lap_measures_from_the_previous_mark() -> None:
    progress = Progress()
    progress.lap("dns")
    progress.lap("connect")
    progress.lap("dns")  # a second hop adds to the phase already there
    assert list(progress.phases_us) == ["dns", "connect"]
    assert sum(progress.phases_us.values()) == progress.mark_us
    assert progress.finish().latency_ms == progress.mark_us / 1000


def test_skip_keeps_a_measured_phase() -> None:
    progress = Progress()
    progress.lap("dns")
    measured = progress.phases_us["dns"]
    progress.skip("dns")
    assert progress.phases_us["dns"] == measured


def test_finish_with_an_error_is_down_with_full_timings() -> None:
    progress = Progress()
    progress.lap("connect")
    progress.status_code = 503
    result = progress.finish("status 503 not in [200]")
    assert not result.ok
    assert result.latency_ms == progress.mark_us / 1000
    assert result.status_code == 503


def test_fail_counts_time_until_now() -> None:
    progress = Progress()
    progress.lap("dns")
    result = progress.fail("connection refused")
    assert result.latency_ms is not None
    assert result.latency_ms >= progress.mark_us / 1000
    assert result.phases_ms.keys() == {"dns"}


async def test_timed_turns_a_timeout_into_a_down_result_with_completed_phases() -> None:
    @timed
    async def hangs(check: Check, progress: Progress) -> ProbeResult:
        progress.lap("dns")
        progress.lap("connect")
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    result = await hangs(check(timeout=0.05))
    assert result.error == "timeout after 50ms"
    assert list(result.phases_ms) == ["dns", "connect"]
    assert result.latency_ms is not None and result.latency_ms >= 50


async def test_timed_reports_failures_and_os_errors() -> None:
    @timed
    async def refuses(check: Check, progress: Progress) -> ProbeResult:
        raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")

    @timed
    async def fails(check: Check, progress: Progress) -> ProbeResult:
        raise ProbeFailure("body lacks 'ok'")

    @timed
    async def socket_timeout(check: Check, progress: Progress) -> ProbeResult:
        raise TimeoutError(errno.ETIMEDOUT, "Connection timed out")

    assert (await refuses(check())).error == "connection refused"
    assert (await fails(check())).error == "body lacks 'ok'"
    # a TimeoutError of the OS is not our deadline
    assert (await socket_timeout(check())).error == "connection timed out"


async def test_timed_lets_cancellation_and_bugs_through() -> None:
    @timed
    async def buggy(check: Check, progress: Progress) -> ProbeResult:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await buggy(check())

    started = asyncio.Event()

    @timed
    async def waits(check: Check, progress: Progress) -> ProbeResult:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    task = asyncio.create_task(waits(check(timeout=10)))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "connection refused"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "connection reset by peer"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "no route to host"),
        (OSError(errno.ENETUNREACH, "Network unreachable"), "network is unreachable"),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "dns: name not found"),
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure"), "dns: temporary failure"),
        (OSError("Something odd"), "something odd"),
        (ConnectionError(), "ConnectionError"),
    ],
)
def test_describe(error: OSError, text: str) -> None:
    assert describe(error) == text


def test_describe_tls_errors() -> None:
    verify = ssl.SSLCertVerificationError(1, "certificate verify failed")
    verify.verify_message = "certificate has expired"
    assert describe(verify) == "certificate verify failed: certificate has expired"
    handshake = ssl.SSLError(1, "wrong version")
    handshake.reason = "WRONG_VERSION_NUMBER"
    assert describe(handshake) == "tls handshake failed: wrong version number"
