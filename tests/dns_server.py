"""A small authoritative DNS server for the probe's tests, on 127.0.0.1 (UDP and TCP on one port).

It answers from a table of records, as zone data would: a name it has no record of is NXDOMAIN,
a name it knows without the type asked is an empty NOERROR. Tests make it misbehave on demand:
a forced rcode (SERVFAIL, REFUSED), a truncated UDP answer (the whole one only over TCP), a
late answer, no answer at all (timeouts), an answer that is not DNS. Every query is recorded with its transport.

    async with dns_server({("acme.example", "A"): ["192.0.2.10"]}) as server:
        ... dns://127.0.0.1:{server.port}/acme.example ...
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import typing
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

Records = Mapping[tuple[str, str], list[str]]


@dataclass
class DnsServer:
    records: Records
    port: int = 0
    rcodes: dict[str, str] = field(default_factory=dict)
    """Name → the rcode every answer about it gets."""
    truncated: set[str] = field(default_factory=set)
    """Names whose UDP answers are truncated (TC, no records)."""
    silent: set[str] = field(default_factory=set)
    """Names never answered."""
    delays: dict[str, float] = field(default_factory=dict)
    """Name → seconds before its UDP answers leave."""
    garbage: set[str] = field(default_factory=set)
    """Names answered with bytes that are no DNS message."""
    queries: list[tuple[str, str, str]] = field(default_factory=list)
    """(transport, name, type) of every query received."""

    def answer(self, wire: bytes, transport: str) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True)
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((transport, name, rdtype))
        if name in self.silent:
            return None
        if name in self.garbage:
            return b"\x00\x01not dns"
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name in self.rcodes:
            response.set_rcode(dns.rcode.from_text(self.rcodes[name]))
        elif transport == "udp" and name in self.truncated:
            response.flags |= dns.flags.TC
        elif not any(known == name for known, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif (name, rdtype) in self.records:
            rrset = dns.rrset.from_text_list(
                question.name, 300, "IN", rdtype, self.records[(name, rdtype)]
            )
            response.answer.append(rrset)
        wire_answer: bytes = response.to_wire()
        return wire_answer


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        answer = self.server.answer(data, "udp")
        if answer is None or self.transport is None:
            return
        name = self.server.queries[-1][1]
        delay = self.server.delays.get(name, 0.0)
        asyncio.get_running_loop().call_later(delay, self.transport.sendto, answer, addr)


async def _serve_tcp(
    server: DnsServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            answer = server.answer(await reader.readexactly(length), "tcp")
            if answer is None:
                await reader.read()  # silent: hold the connection until the client leaves
                return
            writer.write(struct.pack("!H", len(answer)) + answer)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@asynccontextmanager
async def dns_server(records: Records) -> AsyncIterator[DnsServer]:
    """The server on a port free for both UDP and TCP on 127.0.0.1."""
    server = DnsServer(records)
    loop = asyncio.get_running_loop()
    for _ in range(20):
        tcp = await asyncio.start_server(
            lambda r, w: _serve_tcp(server, r, w), "127.0.0.1", 0, family=socket.AF_INET
        )
        server.port = tcp.sockets[0].getsockname()[1]
        try:
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(server), local_addr=("127.0.0.1", server.port)
            )
        except OSError:  # the UDP port is taken: try another
            tcp.close()
            await tcp.wait_closed()
            continue
        break
    else:
        raise RuntimeError("no port free for both UDP and TCP")
    try:
        yield server
    finally:
        udp.close()
        tcp.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(tcp.wait_closed(), 2)
