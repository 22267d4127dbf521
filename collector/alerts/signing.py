"""Signatures of the `webhook` channel (CONTRACT §3.2), for the sender and for receivers.

The signature is `sha256=HEX`, HEX the lowercase HMAC-SHA256 under the channel's `secret` of
`TIMESTAMP + "." + raw body`, TIMESTAMP the Unix seconds sent in `X-Slawatch-Timestamp`. It is
computed at each attempt over the same stored body, so a retry carries a fresh timestamp and the
same `id`; a receiver refuses timestamps outside its tolerance, so a captured request cannot be
replayed later. The scheme is Stripe's and Slack's, which receivers already know how to check.
"""

from __future__ import annotations

import hashlib
import hmac
import math

TIMESTAMP_HEADER = "X-Slawatch-Timestamp"
SIGNATURE_HEADER = "X-Slawatch-Signature"
SIGNATURE_PREFIX = "sha256="
DEFAULT_TOLERANCE_S = 300.0


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=HEX` of `TIMESTAMP.BODY`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def signature_headers(secret: str, body: bytes, now: float) -> dict[str, str]:
    """The two headers of one attempt made at `now`."""
    timestamp = math.floor(now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: bytes,
    signature: str,
    now: float,
    *,
    tolerance: float = DEFAULT_TOLERANCE_S,
) -> bool:
    """What a receiver runs: True only for a fresh timestamp and a matching signature.

    `timestamp` and `signature` are the raw header values (anything an attacker may send); the
    comparison is constant-time.
    """
    if isinstance(timestamp, str):
        text = timestamp.strip()
        if not text.isascii() or not text.isdigit():
            return False
        timestamp = int(text)
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).encode()
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace"))
