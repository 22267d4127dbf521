"""The DNS probe against a real DNS server on 127.0.0.1 (tests/dns_server.py): answers judged
by rcode and records, UDP then TCP on truncation, and every way a server can fail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from slawatch.agent.probes import run_probe
from slawatch.agent.probes.dns import DnsExpect, DnsTarget
from slawatch.agent.sample import ProbeResult
from slawatch.config.loader import ConfigError, parse_config
from slawatch.config.schema import Check
from slawatch.config.sections.checks import check_from
from tests.dns_server import DnsServer, dns_server
from tests.support import free_port

RECORDS = {
    ("acme.example", "A"): ["192.0.2.10", "192.0.2.11"],
    ("acme.example", "MX"): ["10 mx1.acme.example.", "20 mx2.acme.example."],
    ("acme.example", "TXT"): ['"v=spf1 mx -all"'],
    ("www.acme.example", "CNAME"): ["acme.example."],
    ("big.acme.example", "TXT"): ['"' + "x" * 200 + '"'] * 12,
    ("xn--bcher-kva.example", "A"): ["192.0.2.20"],
}


@pytest.fixture
async def server() -> AsyncIterator[DnsServer]:
    async with dns_server(RECORDS) as running:
        yield running


def dns_check(server: DnsServer, path: str, timeout: str = "2s", **keys: Any) -> Check:
    """A check read as the loader reads a file's, of `dns://127.0.0.1:PORT/PATH`."""
    data = {"id": "dns-test", "url": f"dns://127.0.0.1:{server.port}/{path}", **keys}
    return check_from({**data, "timeout": timeout, "interval": "10s"}, "test")


async def probe(server: DnsServer, path: str, **keys: Any) -> ProbeResult:
    return await run_probe(dns_check(server, path, **keys))


def assert_up(result: ProbeResult) -> None:
    assert result.ok, result.error
    assert list(result.phases_ms) == ["dns"]
    assert result.latency_ms == result.phases_ms["dns"] > 0


# --------------------------------------------------------------------------------- answers


async def test_an_a_record_over_udp(server: DnsServer) -> None:
    result = await probe(server, "acme.example", expect={"answer_contains": "192.0.2.11"})
    assert_up(result)
    assert result.status_code is None
    assert server.queries == [("udp", "acme.example", "A")]


async def test_each_record_type_is_asked_and_matched_as_dig_prints_it(server: DnsServer) -> None:
    txt = await probe(server, "acme.example?type=txt", expect={"answer_contains": "v=spf1 mx"})
    cname = await probe(server, "www.acme.example", record_type="CNAME")
    # `^` and `$` match at each record, whichever order the server gives them in
    mx1 = await probe(server, "acme.example?type=MX", expect={"answer_regex": r"^10 mx1\."})
    mx2 = await probe(server, "acme.example?type=MX", expect={"answer_regex": r"^20 mx2\..*\.$"})
    for result in (txt, cname, mx1, mx2):
        assert_up(result)
    assert [q[2] for q in server.queries] == ["TXT", "CNAME", "MX", "MX"]


async def test_an_answer_without_the_expected_text_is_down(server: DnsServer) -> None:
    result = await probe(server, "acme.example", expect={"answer_contains": "192.0.2.99"})
    assert not result.ok
    assert result.error == "answer lacks '192.0.2.99'"
    assert list(result.phases_ms) == ["dns"]


async def test_nxdomain_names_the_rcode(server: DnsServer) -> None:
    result = await probe(server, "gone.acme.example")
    assert (result.ok, result.error) == (False, "rcode NXDOMAIN, expected NOERROR")
    assert result.latency_ms == result.phases_ms["dns"]


async def test_an_expected_nxdomain_is_up(server: DnsServer) -> None:
    assert_up(await probe(server, "gone.acme.example", expect={"rcode": "NXDOMAIN"}))
    either = await probe(server, "acme.example", expect={"rcode": ["nxdomain", "NOERROR"]})
    assert_up(either)


async def test_servfail_and_refused_name_the_rcode(server: DnsServer) -> None:
    server.rcodes |= {"broken.acme.example": "SERVFAIL", "closed.acme.example": "REFUSED"}
    servfail = await probe(server, "broken.acme.example")
    refused = await probe(server, "closed.acme.example", expect={"rcode": ["NXDOMAIN"]})
    assert servfail.error == "rcode SERVFAIL, expected NOERROR"
    assert refused.error == "rcode REFUSED, expected NXDOMAIN"


async def test_noerror_without_a_record_of_the_type_is_down(server: DnsServer) -> None:
    result = await probe(server, "acme.example?type=AAAA")
    assert (result.ok, result.error) == (False, "no AAAA record for acme.example (NOERROR)")


async def test_a_truncated_answer_is_asked_again_over_tcp(server: DnsServer) -> None:
    server.truncated.add("big.acme.example")
    result = await probe(server, "big.acme.example?type=TXT", expect={"answer_contains": "xxx"})
    assert_up(result)
    assert server.queries == [
        ("udp", "big.acme.example", "TXT"),
        ("tcp", "big.acme.example", "TXT"),
    ]


async def test_a_silent_server_is_a_timeout_with_no_phase(server: DnsServer) -> None:
    server.silent.add("slow.acme.example")
    result = await probe(server, "slow.acme.example", timeout="300ms")
    assert (result.ok, result.error) == (False, "timeout after 300ms")
    assert result.phases_ms == {}
    assert result.latency_ms is not None and result.latency_ms >= 300


async def test_an_answer_that_is_no_dns_is_named(server: DnsServer) -> None:
    server.garbage.add("junk.acme.example")
    result = await probe(server, "junk.acme.example")
    assert (result.ok, result.error) == (False, "malformed answer (ShortHeader)")


async def test_a_port_nobody_listens_on_is_refused_at_once() -> None:
    port = free_port()
    check = check_from(
        {"id": "d", "url": f"dns://127.0.0.1:{port}/acme.example", "timeout": "5s"}, "test"
    )
    result = await run_probe(check)
    assert (result.ok, result.error) == (False, "connection refused")
    assert result.latency_ms is not None and result.latency_ms < 2000


async def test_a_server_given_by_name_is_looked_up_within_the_dns_phase(
    server: DnsServer,
) -> None:
    check = check_from(
        {
            "id": "d",
            "type": "dns",
            "server": "localhost",
            "port": server.port,
            "name": "acme.example",
        },
        "test",
    )
    result = await run_probe(check)
    assert_up(result)


async def test_an_internationalised_name_is_asked_in_its_ascii_form(server: DnsServer) -> None:
    check = dns_check(server, "bücher.example")
    assert check.target.name == "xn--bcher-kva.example"
    assert_up(await run_probe(check))


async def test_a_slow_answer_fails_max_latency(server: DnsServer) -> None:
    server.delays["acme.example"] = 0.2
    result = await probe(server, "acme.example", expect={"max_latency": "50ms"})
    assert not result.ok
    assert (result.error or "").startswith("slower than 50ms (0.2")
    assert list(result.phases_ms) == ["dns"]


# ---------------------------------------------------------------------------------- config


def checks_of(text: str) -> tuple[Check, ...]:
    return parse_config(text, base_dir=Path("/cfg"), process="agent").checks


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, base_dir=Path("/cfg"), process="check")
    return [f"{p.path}: {p.message}" for p in caught.value.problems]


def test_a_url_and_keys_read_alike() -> None:
    by_url, by_keys = checks_of(
        """
agent: {id: eu-1, collector: "http://127.0.0.1:8480", token: agent-token-0123456789}
checks:
  - {id: by-url, url: "dns://[2001:db8::53]:5353/acme.example.?type=mx"}
  - {id: by-keys, type: dns, server: "2001:db8::53", port: 5353, name: acme.example., record_type: MX}
"""
    )
    assert by_url.type == by_keys.type == "dns"
    assert by_url.target == by_keys.target == DnsTarget("2001:db8::53", "acme.example.", 5353, "MX")
    assert by_url.target.expect == DnsExpect(rcode=("NOERROR",))


def test_bad_dns_checks_are_named_with_their_key() -> None:
    found = problems_of(
        """
checks:
  - {id: a, url: "dns://127.0.0.1"}
  - {id: b, url: "dns://127.0.0.1/acme.example?type=ANY"}
  - {id: c, url: "dns://127.0.0.1/acme.example?class=CH"}
  - {id: d, type: dns, server: 127.0.0.1, name: "bad name.example"}
  - {id: e, type: dns, name: acme.example, record_type: HINFO, expect: {rcode: OK}}
  - {id: f, url: "dns://127.0.0.1/acme.example?type=A", record_type: MX}
  - {id: g, url: "dns://127.0.0.1/acme.example", expect: {answer_contain: x}}
"""
    )
    assert found == [
        "checks[0].url: must be dns://SERVER[:PORT]/NAME[?type=A]",
        "checks[1].url: must be one of A, AAAA, CAA, CNAME, MX, NS, PTR, SOA, SRV, TXT",
        "checks[2].url: 'class' is no parameter of dns://SERVER[:PORT]/NAME[?type=A]",
        "checks[3].name: must be a domain name like acme.example",
        "checks[4].expect.rcode: must be an rcode or a list of them: NOERROR, FORMERR, "
        "SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH, NOTZONE",
        "checks[4].record_type: must be one of A, AAAA, CAA, CNAME, MX, NS, PTR, SOA, SRV, TXT",
        "checks[4].server: is required",
        "checks[5].record_type: differs from the url's: give one or the other",
        "checks[6].expect.answer_contain: unknown key (did you mean 'answer_contains'?)",
    ]
