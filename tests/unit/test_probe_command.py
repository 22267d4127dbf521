"""`slawatch probe`: reading TARGET and options into a check, and the human output."""

from __future__ import annotations

import re
from typing import Any

import pytest

from slawatch.agent.probe_command import BadTarget, build_check, id_from_host, render
from slawatch.agent.probes.dns import DnsTarget
from slawatch.agent.probes.icmp import IcmpTarget
from slawatch.agent.sample import ProbeResult, Sample
from slawatch.config.contract import ID_PATTERN
from slawatch.config.schema import Check, HttpExpect, HttpTarget, TcpExpect, TcpTarget


def build(target: str, **options: Any) -> Check:
    settings: dict[str, Any] = {"check_id": None, "timeout": "10s", "insecure": False, **options}
    return build_check(target, **settings)


def test_url_targets_are_http_checks_with_default_expectations() -> None:
    check = build("https://status.example.com/health?full=1")
    assert check.type == "http"
    assert check.target == HttpTarget(url="https://status.example.com/health?full=1")
    assert check.target.expect == HttpExpect()
    assert check.id == "status.example.com"
    assert check.timeout == 10.0
    assert check.interval >= check.timeout


@pytest.mark.parametrize(
    ("target", "host", "port", "tls"),
    [
        ("db.example.com:5432", "db.example.com", 5432, False),
        ("10.0.0.1:22", "10.0.0.1", 22, False),
        ("[::1]:8080", "::1", 8080, False),
        ("[2001:db8::5]:443", "2001:db8::5", 443, False),
        ("tcp://db:5432", "db", 5432, False),
        ("tls://mail.example.com:993", "mail.example.com", 993, True),
        ("TLS://[::1]:993/", "::1", 993, True),
    ],
)
def test_host_port_targets_are_tcp_checks(target: str, host: str, port: int, tls: bool) -> None:
    check = build(target)
    assert check.type == "tcp"
    assert check.target == TcpTarget(host=host, port=port, tls=tls, expect=TcpExpect())


def test_dns_and_icmp_urls_are_read_as_a_files_url() -> None:
    dns = build("dns://192.0.2.53:5353/acme.example?type=MX", check_id="mx")
    assert (dns.id, dns.type) == ("mx", "dns")
    assert dns.target == DnsTarget("192.0.2.53", "acme.example", 5353, "MX")
    icmp = build("icmp://[2001:db8::1]")
    assert (icmp.id, icmp.type, icmp.target) == ("2001-db8-1", "icmp", IcmpTarget("2001:db8::1"))


def test_insecure_skips_verification() -> None:
    for target in ("https://h/", "tls://h:1"):
        assert build(target, insecure=True).target.tls_skip_verify


def test_timeout_and_id_options() -> None:
    check = build("h:1", timeout="500ms", check_id="my-check.1")
    assert check.timeout == 0.5
    assert check.id == "my-check.1"
    assert build("h:1", timeout="2m").interval == 120.0


@pytest.mark.parametrize(
    ("target", "options", "message"),
    [
        ("example.com", {}, "'example.com': expected a URL"),
        (
            "ftp://example.com/",
            {},
            "unsupported scheme ftp://; expected a URL (http://, https://, tcp://, tls://, dns://, icmp://) or host:port",
        ),
        (
            "dns://127.0.0.1/",
            {},
            "'dns://127.0.0.1/': url: must be dns://SERVER[:PORT]/NAME[?type=A]",
        ),
        ("dns://h/acme.example?type=WKS", {}, "url: must be one of A, AAAA, CAA"),
        ("icmp://h:7", {}, "'icmp://h:7': url: must be icmp://HOST"),
        ("http://", {}, "no host"),
        ("http://h:70000/", {}, "invalid port"),
        ("http://h /x", {}, "cannot contain spaces"),
        ("http://[::1", {}, "'http://[::1': not a valid URL (invalid IPv6 URL)"),
        ("https://[zz]/", {}, "'https://[zz]/': not a valid URL ('zz' does not appear"),
        ("http://::1]/", {}, "not a valid URL (invalid IPv6 URL)"),
        ("h:0", {}, "port must be between 1 and 65535"),
        ("h:65536", {}, "port must be between 1 and 65535"),
        ("tcp://h", {}, "'tcp://h': expected a URL"),
        ("[::1]", {}, "expected a URL"),
        ("", {}, "expected a URL"),
        ("h:1", {"timeout": "soon"}, "--timeout 'soon': must be a duration"),
        ("h:1", {"timeout": "0s"}, "--timeout '0s': must be more than 0"),
        ("h:1", {"timeout": "2d"}, "at most 1d"),
        ("h:1", {"check_id": "Has Spaces"}, "--id 'Has Spaces': must match"),
    ],
)
def test_bad_targets_and_options_say_what_is_wrong(
    target: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(BadTarget, match=re.escape(message)):
        build(target, **options)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("Status.Example.COM", "status.example.com"),
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "1"),
        ("2001:db8::5", "2001-db8-5"),
        ("bücher.de", "b-cher.de"),
        ("", "probe"),
        ("a" * 300, "a" * 128),
    ],
)
def test_ids_derived_from_hosts_are_valid(host: str, expected: str) -> None:
    derived = id_from_host(host)
    assert derived == expected
    assert ID_PATTERN.fullmatch(derived)


def sample(result: ProbeResult) -> Sample:
    return Sample(check="c", ts=1_800_000_000.0, interval_s=60, type="http", result=result)


def test_render_up_with_phases_and_certificate() -> None:
    result = ProbeResult(
        ok=True,
        latency_ms=84.1,
        status_code=200,
        phases_ms={"dns": 1.2, "connect": 3.4, "tls": 21.0, "ttfb": 58.1, "transfer": 0.4},
        tls_expires=1_800_000_000.0 + 30 * 86_400 + 60,
    )
    assert render(sample(result), "https://h/").splitlines() == [
        "UP  https://h/  status 200  84.1 ms",
        "",
        "  dns            1.200 ms",
        "  connect        3.400 ms",
        "  tls           21.000 ms",
        "  ttfb          58.100 ms",
        "  transfer       0.400 ms",
        "  total         84.100 ms",
        "  certificate expires 2027-02-14 08:01:00 UTC (in 30 days)",
    ]


def test_render_down_names_the_error() -> None:
    result = ProbeResult(
        ok=False, latency_ms=1.5, error="connection refused", phases_ms={"dns": 0.0}
    )
    lines = render(sample(result), "h:1").splitlines()
    assert lines[0] == "DOWN  h:1  1.5 ms  connection refused"
    assert lines[2:] == ["  dns            0.000 ms", "  total          1.500 ms"]
