"""TLS in both probes, against local servers with certificates of a trustme CA."""

from __future__ import annotations

import datetime

from cryptography import x509

from slawatch.agent.probes import run_probe
from slawatch.config.schema import HttpExpect, TcpExpect
from tests.targets import (
    HOST,
    HttpTargetServer,
    LocalCa,
    http_check,
    http_target,
    https_target_fixture,  # noqa: F401 - registers the fixture
    local_ca_fixture,  # noqa: F401 - registers the fixture
    server_context,
    silent_listener,
    tcp_check,
    tcp_server,
    trusted_ca_fixture,  # noqa: F401 - registers the fixture
)

DAY = datetime.timedelta(days=1)
HOUR = datetime.timedelta(hours=1)


async def test_https_with_a_trusted_ca_is_up_with_a_tls_phase(
    https_target: HttpTargetServer,
) -> None:
    result = await run_probe(http_check(https_target.url("/ok")))
    assert result.ok, result.error
    assert list(result.phases_ms) == ["dns", "connect", "tls", "ttfb", "transfer"]
    assert result.phases_ms["tls"] > 0
    total_us = sum(round(ms * 1000) for ms in result.phases_ms.values())
    assert result.latency_ms is not None and total_us == round(result.latency_ms * 1000)


async def test_tls_expires_is_the_certificate_not_after(
    trusted_ca: LocalCa,
) -> None:
    certificate = trusted_ca.issue(expires_in=200 * DAY)
    pem = certificate.cert_chain_pems[0].bytes()
    expected = x509.load_pem_x509_certificate(pem).not_valid_after_utc.timestamp()
    async with http_target(server_context(certificate)) as target:
        result = await run_probe(http_check(target.url("/ok")))
    assert result.ok, result.error
    assert result.tls_expires == expected


async def test_an_unknown_ca_fails_verification(local_ca: LocalCa) -> None:
    async with http_target(local_ca.server_context()) as target:
        result = await run_probe(http_check(target.url("/ok")))
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith("certificate verify failed: ")
    assert "tls" not in result.phases_ms  # the handshake did not complete
    assert set(result.phases_ms) == {"dns", "connect"}


async def test_tls_skip_verify_accepts_an_unknown_ca_and_still_reads_expiry(
    local_ca: LocalCa,
) -> None:
    async with http_target(local_ca.server_context(expires_in=90 * DAY)) as target:
        result = await run_probe(http_check(target.url("/ok"), tls_skip_verify=True))
    assert result.ok, result.error
    assert result.tls_expires is not None
    days_left = (result.tls_expires - datetime.datetime.now(datetime.UTC).timestamp()) / 86400
    assert 89 < days_left <= 90


async def test_an_expired_certificate_fails_verification(trusted_ca: LocalCa) -> None:
    async with http_target(trusted_ca.server_context(expires_in=-2 * DAY)) as target:
        result = await run_probe(http_check(target.url("/ok")))
    assert not result.ok
    assert result.error == "certificate verify failed: certificate has expired"


async def test_an_expired_certificate_without_verification_fails_tls_min_days(
    trusted_ca: LocalCa,
) -> None:
    async with http_target(trusted_ca.server_context(expires_in=-2 * DAY - HOUR)) as target:
        check = http_check(
            target.url("/ok"), tls_skip_verify=True, expect=HttpExpect(tls_min_days=1)
        )
        result = await run_probe(check)
    assert result.error == "certificate expired 2 days ago"
    assert result.status_code == 200


async def test_tls_min_days(trusted_ca: LocalCa) -> None:
    async with http_target(trusted_ca.server_context(expires_in=3 * DAY + 2 * HOUR)) as target:
        url = target.url("/ok")
        soon = await run_probe(http_check(url, expect=HttpExpect(tls_min_days=14)))
        enough = await run_probe(http_check(url, expect=HttpExpect(tls_min_days=3)))
    assert not soon.ok
    assert soon.error == "certificate expires in 3 days"
    assert enough.ok, enough.error


async def test_plain_http_ignores_tls_min_days() -> None:
    async with http_target() as target:
        result = await run_probe(http_check(target.url("/ok"), expect=HttpExpect(tls_min_days=30)))
    assert result.ok, result.error
    assert "tls" not in result.phases_ms


async def test_a_handshake_that_never_comes_times_out_after_connect() -> None:
    async with silent_listener() as server:
        result = await run_probe(http_check(f"https://{HOST}:{server.port}/", timeout=0.5))
    assert result.error == "timeout after 500ms"
    assert set(result.phases_ms) == {"dns", "connect"}


async def test_plain_server_behind_https_is_a_handshake_failure() -> None:
    async with tcp_server(None, reply=lambda _: b"HTTP/1.1 400 Bad Request\r\n\r\n") as server:
        result = await run_probe(http_check(f"https://{HOST}:{server.port}/", timeout=2))
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith("tls handshake failed: "), result.error


# -------------------------------------------------------------------------------------- TCP


async def test_tcp_tls_handshake_and_banner(trusted_ca: LocalCa) -> None:
    context = trusted_ca.server_context(expires_in=40 * DAY)
    async with tcp_server(b"* OK IMAP ready\r\n", ssl_context=context) as server:
        check = tcp_check(server.port, tls=True, expect=TcpExpect(banner_contains="* OK"))
        result = await run_probe(check)
    assert result.ok, result.error
    assert list(result.phases_ms) == ["dns", "connect", "tls", "ttfb", "transfer"]
    assert result.tls_expires is not None


async def test_tcp_tls_server_name_must_match_the_certificate(trusted_ca: LocalCa) -> None:
    async with tcp_server(b"hi\r\n", ssl_context=trusted_ca.server_context()) as server:
        right = await run_probe(tcp_check(server.port, tls=True, server_name="localhost"))
        wrong = await run_probe(tcp_check(server.port, tls=True, server_name="other.example"))
        skipped = await run_probe(
            tcp_check(server.port, tls=True, server_name="other.example", tls_skip_verify=True)
        )
    assert right.ok, right.error
    assert not wrong.ok
    assert wrong.error is not None
    assert wrong.error.startswith("certificate verify failed: "), wrong.error
    assert "other.example" in wrong.error
    assert skipped.ok, skipped.error


async def test_tcp_tls_min_days(trusted_ca: LocalCa) -> None:
    context = trusted_ca.server_context(expires_in=5 * DAY + HOUR)
    async with tcp_server(None, ssl_context=context) as server:
        result = await run_probe(tcp_check(server.port, tls=True, expect=TcpExpect(tls_min_days=7)))
    assert result.error == "certificate expires in 5 days"
