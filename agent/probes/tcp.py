"""The TCP probe: connect, optionally a TLS handshake, optionally send a line and wait for a banner.

Phases: `dns`, `connect`, `tls` when TLS; when a banner is expected, `ttfb` (ready connection →
first byte back) and `transfer` (→ the byte that completes the match), so that phases still add
up to `latency_ms`. A `send` with nothing expected back is written but not timed.
"""

from __future__ import annotations

import asyncio

from slawatch.agent.probes.errors import ProbeFailure
from slawatch.agent.probes.expect import certificate_expiring, slower_than, text_lacks
from slawatch.agent.probes.net import open_stream
from slawatch.agent.probes.progress import Progress, timed
from slawatch.agent.probes.tls import TlsSettings
from slawatch.agent.sample import ProbeResult
from slawatch.config.contract import BODY_READ_LIMIT_BYTES
from slawatch.config.schema import Check, TcpExpect, TcpTarget

READ_SIZE = 65_536


@timed
async def probe(check: Check, progress: Progress) -> ProbeResult:
    target = check.target
    if not isinstance(target, TcpTarget):
        raise TypeError(f"check {check.id}: the tcp probe needs a TcpTarget")
    tls = None
    if target.tls:
        server_name = target.server_name or target.host
        tls = TlsSettings(verify=not target.tls_skip_verify, server_name=server_name)
    expect = target.expect
    reader, writer = await open_stream(target.host, target.port, progress, tls)
    try:
        if target.send is not None:
            writer.write(target.send.encode())
            await writer.drain()
        if expect.banner_contains is not None or expect.banner_regex is not None:
            await read_banner(reader, expect, progress)
    finally:
        writer.transport.abort()
    error = certificate_expiring(expect.tls_min_days, progress.tls_expires) or slower_than(
        expect.max_latency, progress.mark_us
    )
    return progress.finish(error)


async def read_banner(reader: asyncio.StreamReader, expect: TcpExpect, progress: Progress) -> None:
    """Read until the banner meets `expect`; the peer closing first, or the first
    BODY_READ_LIMIT_BYTES not meeting it, is a failure."""
    received = bytearray()
    while True:
        data = await reader.read(READ_SIZE)
        if data and not received:
            progress.lap("ttfb")
        received += data[: BODY_READ_LIMIT_BYTES - len(received)]
        text = received.decode("utf-8", "replace")
        lacking = text_lacks(text, expect.banner_contains, expect.banner_regex, "banner")
        if lacking is None:
            progress.lap("transfer")
            return
        if not data:
            raise ProbeFailure(f"{lacking} (connection closed)")
        if len(received) >= BODY_READ_LIMIT_BYTES:
            raise ProbeFailure(lacking)
