"""Webhook signatures (CONTRACT §3.2): HMAC-SHA256 of `TIMESTAMP.BODY`, fresh timestamps only."""

from __future__ import annotations

import pytest

from slawatch.collector.alerts.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    signature_headers,
    verify_signature,
)

SECRET = "topsecret"
BODY = b'{"a":1}'
TS = 1764213120
KNOWN = "sha256=d5bd8667efaff26244083e30a3f033b25caec2814b8abb7d09df107fc563d993"
"""`printf '1764213120.{"a":1}' | openssl dgst -sha256 -hmac topsecret`"""


def test_signature_matches_an_independent_computation() -> None:
    assert sign(SECRET, TS, BODY) == KNOWN


def test_headers_carry_whole_seconds_and_the_signature_over_them() -> None:
    headers = signature_headers(SECRET, BODY, TS + 0.9)
    assert headers == {TIMESTAMP_HEADER: str(TS), SIGNATURE_HEADER: KNOWN}


def test_a_fresh_genuine_request_verifies() -> None:
    assert verify_signature(SECRET, str(TS), BODY, KNOWN, now=TS + 299)
    assert verify_signature(SECRET, TS, BODY, KNOWN, now=TS - 299)


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "signature", "now"),
    [
        (SECRET, str(TS), b'{"a":2}', KNOWN, TS),  # tampered body
        ("other", str(TS), BODY, KNOWN, TS),  # wrong secret
        (SECRET, str(TS + 1), BODY, KNOWN, TS),  # timestamp changed after signing
        (SECRET, str(TS), BODY, KNOWN, TS + 301),  # replayed too late
        (SECRET, str(TS), BODY, KNOWN, TS - 301),  # from the future
        (SECRET, str(TS), BODY, KNOWN.upper(), TS),  # not the lowercase hex
        (SECRET, str(TS), BODY, KNOWN.removeprefix("sha256="), TS),  # no scheme prefix
        (SECRET, "", BODY, KNOWN, TS),
        (SECRET, "abc", BODY, KNOWN, TS),
        (SECRET, "-1764213120", BODY, KNOWN, TS),
        (SECRET, "１７６４２１３１２０", BODY, KNOWN, TS),  # full-width digits
        (SECRET, str(TS), BODY, "sha256=é" + "0" * 63, TS),  # non-ASCII signature
        (SECRET, str(TS), BODY, "", TS),
    ],
)
def test_anything_else_is_refused(
    secret: str, timestamp: str, body: bytes, signature: str, now: float
) -> None:
    assert verify_signature(secret, timestamp, body, signature, now) is False


def test_tolerance_is_adjustable() -> None:
    assert not verify_signature(SECRET, str(TS), BODY, KNOWN, TS + 61, tolerance=60)
    assert verify_signature(SECRET, str(TS), BODY, KNOWN, TS + 59, tolerance=60)
