"""The ICMP probe against 127.0.0.1 and ::1: the socket this process may open (a raw one as root),
the unprivileged datagram socket in a network namespace whose `ping_group_range` allows it, a
host that allows neither (the agent refuses to start), and a host that does not answer."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from slawatch.agent.probes import host_problems, run_probe
from slawatch.agent.probes.icmp import (
    CANNOT_PING,
    IcmpTarget,
    echo_request,
    internet_checksum,
    is_reply,
    socket_kind,
)
from slawatch.config.loader import ConfigError, parse_config
from slawatch.config.schema import Check
from slawatch.config.sections.checks import check_from
from tests.support import SLAWATCH, free_port

NOBODY = 65534


def icmp_check(url: str, timeout: str = "2s", **keys: object) -> Check:
    return check_from({"id": "ping", "url": url, "timeout": timeout, **keys}, "test")


async def test_ping_the_loopback() -> None:
    result = await run_probe(icmp_check("icmp://127.0.0.1"))
    assert result.ok, result.error
    assert result.phases_ms == {}
    assert result.latency_ms is not None and 0 < result.latency_ms < 1000


async def test_ping_a_name_and_ipv6() -> None:
    by_name = await run_probe(icmp_check("icmp://localhost"))
    assert by_name.ok, by_name.error
    if socket.has_ipv6 and socket_kind(socket.AF_INET6) is not None:
        v6 = await run_probe(icmp_check("icmp://[::1]"))
        assert v6.ok, v6.error


async def test_max_latency_is_judged_on_the_round_trip() -> None:
    fast = await run_probe(icmp_check("icmp://127.0.0.1", expect={"max_latency": "1s"}))
    assert fast.ok, fast.error
    slow = await run_probe(icmp_check("icmp://127.0.0.1", expect={"max_latency": "0.001ms"}))
    assert not slow.ok
    assert (slow.error or "").startswith("slower than ")
    assert slow.phases_ms == {}


async def test_an_unknown_name_is_down() -> None:
    result = await run_probe(icmp_check("icmp://no-such-host.invalid"))
    assert (result.ok, result.error) == (False, "dns: name not found")


def test_this_host_can_ping() -> None:
    """The suite runs where the probe can work (root: a raw socket), so nothing stops an agent."""
    assert socket_kind(socket.AF_INET) in (socket.SOCK_DGRAM, socket.SOCK_RAW)
    assert host_problems([icmp_check("icmp://127.0.0.1")]) == []


# ------------------------------------------------------------------------------ the packets


def test_checksum_of_rfc_1071s_example() -> None:
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert internet_checksum(data) == 0x220D
    assert internet_checksum(data + internet_checksum(data).to_bytes(2, "big")) == 0
    assert internet_checksum(b"\x01") == 0xFEFF  # odd length: padded with a zero byte


def test_an_echo_request_and_the_replies_it_accepts() -> None:
    request = echo_request(socket.AF_INET, 0x1234, 7, b"slawatch-abc")
    assert request[:2] == b"\x08\x00" and internet_checksum(request) == 0
    reply = b"\x00\x00\x00\x00" + request[4:]
    assert is_reply(reply, socket.AF_INET, 0x1234, 7, b"slawatch-abc")
    assert is_reply(reply, socket.AF_INET, None, 7, b"slawatch-abc")  # the kernel matched the id
    assert not is_reply(reply, socket.AF_INET, 0x9999, 7, b"slawatch-abc")  # another's (raw)
    assert not is_reply(reply, socket.AF_INET, None, 8, b"slawatch-abc")
    assert not is_reply(reply, socket.AF_INET, None, 7, b"slawatch-xyz")
    assert not is_reply(request, socket.AF_INET, None, 7, b"slawatch-abc")  # our own request
    assert not is_reply(reply[:5], socket.AF_INET, None, 7, b"")
    v6 = echo_request(socket.AF_INET6, 1, 2, b"p")
    assert v6[:4] == b"\x80\x00\x00\x00"  # the kernel sums ICMPv6
    assert is_reply(b"\x81" + v6[1:], socket.AF_INET6, 1, 2, b"p")


# ---------------------------------------------------------------------------------- config


def test_icmp_checks_from_a_url_or_a_host() -> None:
    text = """
checks:
  - {id: a, url: "icmp://gw.acme.example"}
  - {id: b, type: icmp, host: "2001:db8::1", expect: {max_latency: 50ms}}
"""
    a, b = parse_config(text, base_dir=Path("/cfg"), process="check").checks
    assert (a.type, a.target) == ("icmp", IcmpTarget("gw.acme.example"))
    assert (b.target.host, b.target.expect.max_latency) == ("2001:db8::1", 0.05)
    with pytest.raises(ConfigError) as caught:
        parse_config(
            "checks:\n  - {id: a, url: 'icmp://h.example:80'}\n  - {id: b, url: 'icmp://h/x'}\n"
            "  - {id: c, type: icmp, host: h, port: 1}\n",
            base_dir=Path("/cfg"),
            process="check",
        )
    assert [f"{p.path}: {p.message}" for p in caught.value.problems] == [
        "checks[0].url: must be icmp://HOST",
        "checks[1].url: must be icmp://HOST",
        "checks[2].port: unknown key",
    ]


# ----------------------------------------------------- other hosts, in network namespaces

UNSHARE = shutil.which("unshare")
IP = shutil.which("ip")
SETPRIV = shutil.which("setpriv")


def namespace_can_be_made() -> bool:
    if os.geteuid() != 0 or not (UNSHARE and IP and SETPRIV):
        return False
    done = subprocess.run([UNSHARE, "--net", "true"], capture_output=True, check=False)
    return done.returncode == 0


needs_namespaces = pytest.mark.skipif(
    not namespace_can_be_made(),
    reason="needs root with unshare, ip and setpriv (a network namespace of its own)",
)


def in_namespace(
    command: list[str], *, ping_group_range: str, as_nobody: bool, ignore_echo: bool = False
) -> subprocess.CompletedProcess[str]:
    """`command` in a new network namespace (its own loopback, its own ICMP sysctls), as root
    or as nobody: a host configured otherwise than this one."""
    setup = [
        f"{IP} link set lo up",
        f"echo '{ping_group_range}' > /proc/sys/net/ipv4/ping_group_range",
        f"echo {int(ignore_echo)} > /proc/sys/net/ipv4/icmp_echo_ignore_all",
    ]
    user = [SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    run = subprocess.list2cmdline([*(user if as_nobody else []), *command])
    script = " && ".join([*setup, f"exec {run}"])
    return subprocess.run(
        [str(UNSHARE), "--net", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        env={**os.environ, "HOME": "/tmp"},
        check=False,
    )


SHOW_SOCKET_AND_PING = """
import asyncio, socket
from slawatch.agent.probes import run_probe
from slawatch.agent.probes.icmp import socket_kind
from slawatch.config.sections.checks import check_from
kind = socket_kind(socket.AF_INET)
print({socket.SOCK_DGRAM: "dgram", socket.SOCK_RAW: "raw"}.get(kind, "none"))
result = asyncio.run(run_probe(check_from({"id": "p", "url": "icmp://127.0.0.1"}, "test")))
print(result.ok, result.error)
"""


@needs_namespaces
def test_an_unprivileged_user_pings_with_a_datagram_socket() -> None:
    done = in_namespace(
        [sys.executable, "-c", SHOW_SOCKET_AND_PING],
        ping_group_range=f"0 {NOBODY}",
        as_nobody=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["dgram", "True None"]


@needs_namespaces
def test_root_without_ping_group_range_pings_with_a_raw_socket() -> None:
    done = in_namespace(
        [sys.executable, "-c", SHOW_SOCKET_AND_PING], ping_group_range="1 0", as_nobody=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["raw", "True None"]


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder that nobody may use too (pytest's own are root's alone)."""
    with tempfile.TemporaryDirectory(prefix="slawatch-icmp-") as folder:
        Path(folder).chmod(0o777)
        yield Path(folder)


@needs_namespaces
def test_a_host_that_allows_no_icmp_socket_refuses_at_start(shared_tmp: Path) -> None:
    tmp_path = shared_tmp
    config = tmp_path / "agent.yaml"
    config.write_text(
        f"""
agent:
  id: eu-1
  collector: http://127.0.0.1:{free_port()}
  token: agent-token-0123456789abcdef
  spool: {tmp_path}/spool.db
checks:
  - {{id: gw, url: "icmp://127.0.0.1"}}
  - {{id: router, type: icmp, host: 127.0.0.2}}
  - {{id: web, url: "http://127.0.0.1:{free_port()}/"}}
""",
        encoding="utf-8",
    )
    agent = in_namespace(
        [*SLAWATCH, "agent", "--config", str(config)], ping_group_range="1 0", as_nobody=True
    )
    assert agent.returncode == 2, agent.stderr
    assert f"icmp checks (gw, router): {CANNOT_PING}" in agent.stderr
    assert "Traceback" not in agent.stderr
    assert not (tmp_path / "spool.db").exists()  # refused before anything started
    probe = in_namespace(
        [*SLAWATCH, "probe", "icmp://127.0.0.1"], ping_group_range="1 0", as_nobody=True
    )
    assert probe.returncode == 2
    assert probe.stderr == f"slawatch probe: 'icmp://127.0.0.1': {CANNOT_PING}\n"
    both = tmp_path / "up.yaml"
    both.write_text(
        f"collector: {{listen: '127.0.0.1:{free_port()}', database: {tmp_path}/up.db}}\n"
        "checks:\n  - {id: gw, url: 'icmp://127.0.0.1'}\n",
        encoding="utf-8",
    )
    up = in_namespace(
        [*SLAWATCH, "up", "--config", str(both)], ping_group_range="1 0", as_nobody=True
    )
    assert up.returncode == 2, up.stderr
    assert f"icmp checks (gw): {CANNOT_PING}" in up.stderr
    assert "Traceback" not in up.stderr


@needs_namespaces
def test_a_host_that_does_not_answer_is_down() -> None:
    done = in_namespace(
        [*SLAWATCH, "probe", "icmp://127.0.0.1", "--timeout", "300ms"],
        ping_group_range="1 0",
        as_nobody=False,
        ignore_echo=True,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("DOWN  icmp://127.0.0.1  ")
    assert done.stdout.split("\n")[0].endswith("timeout after 300ms")
