"""TLS for probes: client contexts built once per setting, and the peer certificate's expiry.

Trust is the system's, as OpenSSL finds it: `SSL_CERT_FILE` / `SSL_CERT_DIR` point it at another
bundle (a private CA in production, a test CA in tests). They are read at every probe and a
context is built only when they change: loading a trust store takes tens of milliseconds of
file reading and parsing, so it is done in a thread, never in the event loop.
"""

from __future__ import annotations

import asyncio
import calendar
import functools
import math
import os
import ssl
from dataclasses import dataclass

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class TlsSettings:
    verify: bool
    server_name: str
    """SNI and the name the certificate must carry."""
    alpn: tuple[str, ...] = ()


ContextKey = tuple[bool, tuple[str, ...], str | None, str | None]
_contexts: dict[ContextKey, ssl.SSLContext] = {}


async def client_context(settings: TlsSettings) -> ssl.SSLContext:
    key = (
        settings.verify,
        settings.alpn,
        os.environ.get("SSL_CERT_FILE"),
        os.environ.get("SSL_CERT_DIR"),
    )
    context = _contexts.get(key)
    if context is None:
        # two first probes at once may both build one: harmless, the first stored is kept
        built = await asyncio.to_thread(_build_context, *key)
        context = _contexts.setdefault(key, built)
    return context


def _build_context(
    verify: bool, alpn: tuple[str, ...], cafile: str | None, capath: str | None
) -> ssl.SSLContext:
    """`cafile`/`capath` are only the cache key: OpenSSL reads the same variables itself."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(list(alpn))
    return context


def peer_certificate_expiry(ssl_object: ssl.SSLObject | None) -> float | None:
    """Unix seconds of the peer certificate's notAfter, also when it was not verified."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    try:
        return certificate_not_after(der)
    except (ValueError, IndexError):
        return None


def expiry_problem(expires: float, min_days: float, now: float) -> str | None:
    """`certificate expires in 3 days` when fewer than `min_days` are left, else None."""
    left = expires - now
    if left >= min_days * SECONDS_PER_DAY:
        return None
    if left <= -SECONDS_PER_DAY:
        return f"certificate expired {_days(-left)} ago"
    if left <= 0:
        return "certificate has expired"
    if left < SECONDS_PER_DAY:
        return f"certificate expires in {math.ceil(left / 3600)} hours"
    return f"certificate expires in {_days(left)}"


def _days(seconds: float) -> str:
    days = math.floor(seconds / SECONDS_PER_DAY)
    return "1 day" if days == 1 else f"{days} days"


@functools.lru_cache(maxsize=1024)
def certificate_not_after(der: bytes) -> float:
    """notAfter of an X.509 certificate in DER (RFC 5280 §4.1), as Unix seconds.

    Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
    signature, issuer, validity SEQUENCE { notBefore, notAfter }, … }, … }
    """
    tbs = _children(_children(der)[0][1])[0][1]
    fields = _children(tbs)
    validity = fields[4 if fields[0][0] == 0xA0 else 3][1]
    tag, value = _children(validity)[1]
    return _asn1_time(tag, value.decode("ascii"))


def _children(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, value) of each DER element laid one after another in `data`."""
    items, offset = [], 0
    while offset < len(data):
        tag, length = data[offset], data[offset + 1]
        offset += 2
        if length & 0x80:
            size = length & 0x7F
            length = int.from_bytes(data[offset : offset + size], "big")
            offset += size
        items.append((tag, data[offset : offset + length]))
        offset += length
    return items


def _asn1_time(tag: int, text: str) -> float:
    """UTCTime (0x17, YYMMDDHHMMSSZ) or GeneralizedTime (0x18, YYYYMMDDHHMMSSZ), both in UTC."""
    if tag == 0x17:
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != 0x18:
        raise ValueError(f"not an ASN.1 time (tag {tag:#x})")
    fields = (text[0:4], text[4:6], text[6:8], text[8:10], text[10:12], text[12:14])
    return float(calendar.timegm(tuple(int(f) for f in fields)))
