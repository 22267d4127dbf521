"""Certificate expiry read from DER, expiry messages, and the TLS context cache."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from slawatch.agent.probes import tls
from slawatch.agent.probes.tls import (
    TlsSettings,
    certificate_not_after,
    client_context,
    expiry_problem,
)

DAY = 86_400.0
NOW = 1_800_000_000.0


def der_of(certificate: trustme.LeafCert) -> bytes:
    pem = certificate.cert_chain_pems[0].bytes()
    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


@pytest.mark.parametrize(
    "not_after",
    [
        datetime.datetime(2031, 5, 17, 8, 30, 15, tzinfo=datetime.UTC),  # UTCTime
        datetime.datetime(2049, 12, 31, 23, 59, 59, tzinfo=datetime.UTC),  # UTCTime, last year
        datetime.datetime(2050, 1, 1, 0, 0, 0, tzinfo=datetime.UTC),  # GeneralizedTime
        datetime.datetime(3000, 1, 1, 0, 0, 0, tzinfo=datetime.UTC),  # trustme's default
    ],
)
@pytest.mark.parametrize("key_type", [trustme.KeyType.ECDSA, trustme.KeyType.RSA])
def test_not_after_matches_cryptography(
    not_after: datetime.datetime, key_type: trustme.KeyType
) -> None:
    ca = trustme.CA(key_type=key_type)
    not_before = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    certificate = ca.issue_cert(
        "example.test", not_before=not_before, not_after=not_after, key_type=key_type
    )
    der = der_of(certificate)
    expected = x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
    assert certificate_not_after(der) == expected == not_after.timestamp()


def test_a_ca_certificate_with_long_extensions_parses() -> None:
    ca = trustme.CA()
    der = x509.load_pem_x509_certificate(ca.cert_pem.bytes()).public_bytes(Encoding.DER)
    expected = x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
    assert certificate_not_after(der) == expected


def test_garbage_is_not_an_expiry() -> None:
    assert tls.peer_certificate_expiry(None) is None
    with pytest.raises((ValueError, IndexError)):
        certificate_not_after(b"\x30\x03\x02\x01\x01")


@pytest.mark.parametrize(
    ("left", "min_days", "message"),
    [
        (30 * DAY, 14, None),
        (14 * DAY, 14, None),
        (14 * DAY - 1, 14, "certificate expires in 13 days"),
        (3 * DAY + 3600, 14, "certificate expires in 3 days"),
        (1 * DAY + 5, 7, "certificate expires in 1 day"),
        (5 * 3600 - 1, 7, "certificate expires in 5 hours"),
        (0, 7, "certificate has expired"),
        (-DAY + 1, 7, "certificate has expired"),
        (-2.5 * DAY, 7, "certificate expired 2 days ago"),
        (-1 * DAY, 0, "certificate expired 1 day ago"),
        (10, 0, None),
    ],
)
def test_expiry_problem(left: float, min_days: float, message: str | None) -> None:
    assert expiry_problem(NOW + left, min_days, NOW) == message


async def test_contexts_are_built_once_per_setting() -> None:
    verify = await client_context(TlsSettings(verify=True, server_name="a.test"))
    same = await client_context(TlsSettings(verify=True, server_name="b.test"))
    insecure = await client_context(TlsSettings(verify=False, server_name="a.test"))
    http = await client_context(TlsSettings(verify=True, server_name="a", alpn=("http/1.1",)))
    assert verify is same
    assert insecure is not verify
    assert http is not verify
    assert insecure.verify_mode == ssl.CERT_NONE
    assert not insecure.check_hostname
    assert verify.verify_mode == ssl.CERT_REQUIRED
    assert verify.check_hostname


async def test_a_new_ssl_cert_file_gives_a_new_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = TlsSettings(verify=True, server_name="a.test")
    before = await client_context(settings)
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "none"))
    after = await client_context(settings)
    assert after is not before
    subjects = [cert["subject"] for cert in after.get_ca_certs()]
    assert len(subjects) == 1  # only the CA of SSL_CERT_FILE is trusted
