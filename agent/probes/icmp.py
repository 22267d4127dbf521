"""The ICMP probe: one echo request, `latency_ms` its round trip (what `ping -c 1` prints).

The socket is an unprivileged ICMP one (`SOCK_DGRAM`) where the kernel lets the process's group
open it (`net.ipv4.ping_group_range`; systemd and Docker open it to every group), else a raw
socket (root, or `CAP_NET_RAW`). Which kind works is found once per process and family. A host
where neither does cannot run ICMP checks at all: the agent says so when it starts
(`host_problem`) instead of reporting every ICMP check DOWN.

The kernel matches the replies of a datagram socket (it sets the identifier itself); a raw
socket sees every ICMP packet of the host, so replies are matched by identifier, sequence and
payload. The host name is looked up first, untimed: the round trip alone is the measure, and no
phase is reported.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from slawatch.agent.probes.errors import ProbeFailure
from slawatch.agent.probes.expect import slower_than
from slawatch.agent.probes.net import address_of
from slawatch.agent.probes.progress import Progress, timed
from slawatch.agent.sample import ProbeResult
from slawatch.config.keys import Key, Kind, Table
from slawatch.config.registry import CheckTypeSpec
from slawatch.config.schema import Check
from slawatch.config.values import HOST, POSITIVE_DURATION

T = TypeVar("T")

PROTOCOLS: dict[int, int] = {
    socket.AF_INET: socket.IPPROTO_ICMP,
    socket.AF_INET6: socket.IPPROTO_ICMPV6,
}
ECHO_REQUEST: dict[int, int] = {socket.AF_INET: 8, socket.AF_INET6: 128}
ECHO_REPLY: dict[int, int] = {socket.AF_INET: 0, socket.AF_INET6: 129}
FAMILY_NAMES: dict[int, str] = {socket.AF_INET: "ICMP", socket.AF_INET6: "ICMPv6"}
HEADER = struct.Struct("!BBHHH")
"""Type, code, checksum, identifier, sequence."""
PAYLOAD_PREFIX = b"slawatch"
READ_SIZE = 65_535
CANNOT_PING = (
    "this host lets slawatch open no ICMP socket: allow its group in "
    "net.ipv4.ping_group_range (sysctl -w net.ipv4.ping_group_range='0 2147483647'), or run it "
    "with CAP_NET_RAW"
)


@dataclass(frozen=True, slots=True)
class IcmpExpect:
    max_latency: float | None = None


@dataclass(frozen=True, slots=True)
class IcmpTarget:
    host: str
    expect: IcmpExpect = IcmpExpect()


@timed
async def probe(check: Check, progress: Progress) -> ProbeResult:
    target = check.target
    if not isinstance(target, IcmpTarget):
        raise TypeError(f"check {check.id}: the icmp probe needs an IcmpTarget")
    with progress.uncounted():
        address, family = await address_of(target.host, 0)
        sock = open_socket(family)
    try:
        await _echo(sock, family, address)
    finally:
        sock.close()
    progress.mark()
    return progress.finish(slower_than(target.expect.max_latency, progress.mark_us))


async def _echo(sock: socket.socket, family: int, address: str) -> None:
    """Send one echo request and wait for its reply."""
    loop = asyncio.get_running_loop()
    identifier, sequence = struct.unpack("!HH", os.urandom(4))
    payload = PAYLOAD_PREFIX + os.urandom(8)
    raw = sock.type == socket.SOCK_RAW
    request = echo_request(family, identifier, sequence, payload)
    while _attempt(sock.sendto, request, (address, 0)) is None:
        await _ready(loop.add_writer, loop.remove_writer, sock)
    while True:
        while (received := _attempt(sock.recvfrom, READ_SIZE)) is None:
            await _ready(loop.add_reader, loop.remove_reader, sock)
        data, _ = received
        if raw and family == socket.AF_INET:
            data = data[(data[0] & 0x0F) * 4 :]  # a raw IPv4 socket gives the IP header too
        if is_reply(data, family, identifier if raw else None, sequence, payload):
            return


def _attempt(operation: Callable[..., T], *args: Any) -> T | None:
    """One non-blocking try; None when the socket would block.

    Rather than the loop's `sock_sendto`/`sock_recvfrom`, which not every event loop has
    (uvloop, the agent's loop, lacks them): readiness is awaited with `add_reader`/`add_writer`.
    """
    try:
        return operation(*args)
    except (BlockingIOError, InterruptedError):
        return None


async def _ready(
    watch: Callable[..., object], unwatch: Callable[[int], object], sock: socket.socket
) -> None:
    """Wait until `sock` is ready for what `watch` (the loop's add_reader or add_writer)
    watches."""
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    watch(sock.fileno(), _wake, waiter)
    try:
        await waiter
    finally:
        unwatch(sock.fileno())


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def echo_request(family: int, identifier: int, sequence: int, payload: bytes) -> bytes:
    """An echo request; the checksum of ICMPv6 is the kernel's (it covers the IPv6 header)."""
    header = HEADER.pack(ECHO_REQUEST[family], 0, 0, identifier, sequence)
    if family == socket.AF_INET6:
        return header + payload
    checksum = internet_checksum(header + payload)
    return HEADER.pack(ECHO_REQUEST[family], 0, checksum, identifier, sequence) + payload


def is_reply(
    data: bytes, family: int, identifier: int | None, sequence: int, payload: bytes
) -> bool:
    """Whether `data` is the reply to our request; `identifier` None: the kernel checked it."""
    if len(data) < HEADER.size:
        return False
    kind, _, _, got_identifier, got_sequence = HEADER.unpack_from(data)
    return (
        kind == ECHO_REPLY[family]
        and got_sequence == sequence
        and identifier in (None, got_identifier)
        and data[HEADER.size :] == payload
    )


def internet_checksum(data: bytes) -> int:
    """RFC 1071: the ones' complement of the ones' complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def open_socket(family: int) -> socket.socket:
    kind = socket_kind(family)
    if kind is None:
        raise ProbeFailure(f"cannot open an {FAMILY_NAMES[family]} socket on this host")
    sock = socket.socket(family, kind, PROTOCOLS[family])
    sock.setblocking(False)
    return sock


@functools.cache
def socket_kind(family: int) -> int | None:
    """SOCK_DGRAM or SOCK_RAW, whichever ICMP socket this process may open; None if neither."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_RAW):
        try:
            socket.socket(family, kind, PROTOCOLS[family]).close()
        except OSError:
            continue
        return kind
    return None


def host_problem() -> str | None:
    return None if socket_kind(socket.AF_INET) is not None else CANNOT_PING


def from_url(url: str) -> dict[str, object]:
    """`icmp://HOST` (an IPv6 address in brackets)."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or port is not None or parts.path.strip("/") or parts.query or parts.fragment:
        raise ValueError("must be icmp://HOST")
    return {"host": host}


CHECK_TYPE = CheckTypeSpec(
    name="icmp",
    doc="One ICMP echo request (ping); `latency_ms` is the round trip. Needs unprivileged ICMP "
    "sockets (`net.ipv4.ping_group_range` including the agent's group, the default under "
    "systemd and Docker) or `CAP_NET_RAW`: an agent that can open neither refuses to start.",
    keys=Table(
        (
            Key(
                "url",
                Kind("URL (icmp)"),
                "`icmp://HOST`: instead of `host`.",
                example="icmp://gw.acme.example",
            ),
            Key(
                "host",
                HOST,
                "Host name or IP address pinged.",
                required=True,
                example="gw.acme.example",
            ),
        )
    ),
    expect=Table(
        (Key("max_latency", POSITIVE_DURATION, "Slower counts as DOWN.", example="100ms"),)
    ),
    target=IcmpTarget,
    expect_target=IcmpExpect,
    probe=probe,
    schemes=("icmp",),
    from_url=from_url,
    host_problem=host_problem,
    example="""\
- id: acme-gateway
  url: icmp://gw.acme.example
  interval: 30s
- id: acme-router
  type: icmp
  host: 192.0.2.1
  expect: {max_latency: 100ms}""",
)
