"""Opening a probe's connection phase by phase: `dns`, `connect`, then `tls` when asked.

One address is tried, the first `getaddrinfo` returns, as a customer's resolver would pick it:
no fallback to the next address, so a broken first address shows as DOWN rather than hiding
behind a working second one.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket

from slawatch.agent.probes.errors import ProbeFailure, describe
from slawatch.agent.probes.progress import Progress
from slawatch.agent.probes.tls import TlsSettings, client_context, peer_certificate_expiry

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def open_stream(host: str, port: int, progress: Progress, tls: TlsSettings | None) -> Stream:
    """A fresh connection (never pooled); the caller aborts its transport when done."""
    context = None
    if tls is not None:
        with progress.uncounted():
            context = await client_context(tls)
    address, family = await resolve(host, port, progress)
    try:
        reader, writer = await asyncio.open_connection(address, port, family=family)
    except OSError as error:
        raise ProbeFailure(describe(error)) from None
    progress.lap("connect")
    if tls is None or context is None:
        return reader, writer
    try:
        await writer.start_tls(context, server_hostname=tls.server_name)
    except BaseException as error:
        writer.transport.abort()
        if isinstance(error, OSError):
            raise ProbeFailure(describe(error)) from None
        raise
    progress.lap("tls")
    progress.tls_expires = peer_certificate_expiry(writer.get_extra_info("ssl_object"))
    return reader, writer


async def resolve(host: str, port: int, progress: Progress) -> tuple[str, int]:
    """(address, family) of `host`; an IP address is its own answer and takes no `dns` time."""
    family = ip_family(host)
    if family is not None:
        progress.skip("dns")
        return host, family
    found = await address_of(host, port)
    progress.lap("dns")
    return found


async def address_of(host: str, port: int) -> tuple[str, int]:
    """(address, family) of `host`: an IP address is its own, a name gets the first address
    `getaddrinfo` gives."""
    family = ip_family(host)
    if family is not None:
        return host, family
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise ProbeFailure(describe(error)) from None
    if not infos:
        raise ProbeFailure("dns: name not found")
    family, _, _, _, sockaddr = infos[0]
    return str(sockaddr[0]), family


@functools.lru_cache(maxsize=4096)
def ip_family(host: str) -> int | None:
    """AF_INET or AF_INET6 for an IP address, None for a name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET
