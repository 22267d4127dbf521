"""The TCP probe: connect, optionally a TLS handshake, optionally send a line and wait for a banner.

Phases: `dns`, `connect`, `tls` when TLS; when a banner is expected, `ttfb` (ready connection →
first byte back) and `transfer` (→ the byte that completes the match), so that phases still add
up to `latency_ms`. A `send` with nothing expected back is written but not timed.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from slawatch.agent.probes.errors import ProbeFailure
from slawatch.agent.probes.expect import certificate_expiring, slower_than, text_lacks
from slawatch.agent.probes.net import open_stream
from slawatch.agent.probes.progress import Progress, timed
from slawatch.agent.probes.tls import TlsSettings
from slawatch.agent.sample import ProbeResult
from slawatch.config.contract import BODY_READ_LIMIT_BYTES
from slawatch.config.keys import Key, Kind, Table
from slawatch.config.registry import CheckTypeSpec
from slawatch.config.schema import Check, TcpExpect, TcpTarget
from slawatch.config.values import BOOLEAN, HOST, NUMBER, PORT, POSITIVE_DURATION, REGEX, TEXT

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


def from_url(url: str) -> dict[str, object]:
    """`tcp://host:port`, or `tls://host:port` for a TLS handshake after connect."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise ValueError("must be tcp://host:port or tls://host:port")
    return {"host": host, "port": port, **({"tls": True} if parts.scheme == "tls" else {})}


CHECK_TYPE = CheckTypeSpec(
    name="tcp",
    doc="A TCP connect, then optionally a TLS handshake, a line sent and a banner awaited. "
    "`latency_ms` is connect (+ TLS, + the banner).",
    keys=Table(
        (
            Key(
                "url",
                Kind("URL (tcp, tls)"),
                "`tcp://host:port`, or `tls://host:port` for TLS: instead of `host` and `port`.",
                example="tls://mail.acme.example:465",
            ),
            Key("host", HOST, "Host name or IP address.", required=True, example="db.acme.example"),
            Key("port", PORT, "The TCP port.", required=True, example="5432"),
            Key("tls", BOOLEAN, "A TLS handshake after connect.", default=False),
            Key(
                "tls_skip_verify",
                BOOLEAN,
                "Accept a certificate that fails verification.",
                default=False,
            ),
            Key(
                "server_name",
                HOST,
                "The TLS server name sent (SNI), which the certificate must match.",
                default_doc="host",
            ),
            Key(
                "send",
                TEXT,
                "Text sent once connected (then the banner, if one is expected, is read).",
                example='"PING\\r\\n"',
            ),
        )
    ),
    expect=Table(
        (
            Key(
                "banner_contains",
                TEXT,
                "Text the first bytes received must contain (at most 1 MiB is read).",
                example="SSH-2.0",
            ),
            Key(
                "banner_regex",
                REGEX,
                "A Python regular expression the first bytes received must match (search).",
                example='"^\\\\+PONG"',
            ),
            Key(
                "max_latency",
                POSITIVE_DURATION,
                "Slower counts as DOWN.",
                example="500ms",
            ),
            Key(
                "tls_min_days",
                NUMBER,
                "With TLS: DOWN when the certificate expires in fewer days than this.",
                example="14",
            ),
        )
    ),
    target=TcpTarget,
    expect_target=TcpExpect,
    probe=probe,
    schemes=("tcp", "tls"),
    from_url=from_url,
    implied_by=("host",),
    example="""\
- id: acme-db
  host: db.acme.example
  port: 5432
  interval: 30s
  timeout: 5s
- id: acme-redis
  type: tcp
  url: tcp://cache.acme.example:6379
  send: "PING\\r\\n"
  expect: {banner_contains: PONG}
- id: acme-smtps
  url: tls://mail.acme.example:465
  expect: {banner_regex: "^220 ", tls_min_days: 14}""",
)
