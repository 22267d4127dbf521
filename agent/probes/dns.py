"""The DNS probe: one query to one server, as `dig @SERVER NAME TYPE` asks it.

UDP first; an answer with the truncation flag is asked again over TCP, as resolvers do. The
answer is judged by its rcode (NOERROR by default), then by its records: a NOERROR answer
without a record of the type asked is DOWN (the name would not resolve for a customer), and
`answer_contains` / `answer_regex` are matched against the records' text, one per line, in the
order the server gave them (`192.0.2.10`, `10 mail.acme.example.`, `"v=spf1 -all"`): `^` and `$`
of the regex match at each record. Phases: `dns` only, the whole exchange (a server given by
name is looked up first, within it).

dnspython (the reference DNS library of Python: every record type, strict parsing) builds and
parses the messages and runs the exchange on asyncio: a connected datagram endpoint, then a
stream on truncation.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from slawatch.agent.probes.errors import ProbeFailure
from slawatch.agent.probes.expect import slower_than, text_lacks
from slawatch.agent.probes.net import address_of
from slawatch.agent.probes.progress import Progress, timed
from slawatch.agent.sample import ProbeResult
from slawatch.config.keys import Key, Kind, Table
from slawatch.config.registry import CheckTypeSpec
from slawatch.config.schema import Check
from slawatch.config.values import HOST, PORT, POSITIVE_DURATION, REGEX, TEXT

RECORD_TYPES = ("A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT")
RCODES = (
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
)
DEFAULT_PORT = 53
URL_FORM = "dns://SERVER[:PORT]/NAME[?type=A]"
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


@dataclass(frozen=True, slots=True)
class DnsExpect:
    rcode: tuple[str, ...] = ("NOERROR",)
    answer_contains: str | None = None
    answer_regex: str | None = None
    max_latency: float | None = None


@dataclass(frozen=True, slots=True)
class DnsTarget:
    server: str
    name: str
    port: int = DEFAULT_PORT
    record_type: str = "A"
    expect: DnsExpect = DnsExpect()


@timed
async def probe(check: Check, progress: Progress) -> ProbeResult:
    target = check.target
    if not isinstance(target, DnsTarget):
        raise TypeError(f"check {check.id}: the dns probe needs a DnsTarget")
    # dnspython is loaded by `host_problem` when an agent with DNS checks starts.
    import dns.asyncbackend
    import dns.asyncquery
    import dns.exception
    import dns.inet
    import dns.message
    import dns.rcode
    import dns.rdatatype

    address, family = await address_of(target.server, target.port)
    query = dns.message.make_query(target.name, target.record_type)
    destination = dns.inet.low_level_address_tuple((address, target.port), family)
    backend = dns.asyncbackend.get_backend("asyncio")
    # A connected datagram socket, so that a port nobody listens on reads "connection refused"
    # (the ICMP error a connected socket is told of) rather than a timeout.
    udp = await backend.make_socket(family, socket.SOCK_DGRAM, destination=destination)
    try:
        answer, _ = await dns.asyncquery.udp_with_fallback(
            query, address, port=target.port, udp_sock=udp, ignore_unexpected=True
        )
    except dns.exception.DNSException as error:
        raise ProbeFailure(f"malformed answer ({type(error).__name__})") from None
    finally:
        await udp.close()
    progress.lap("dns")
    rcode = dns.rcode.to_text(answer.rcode())
    expect = target.expect
    if rcode not in expect.rcode:
        return progress.finish(f"rcode {rcode}, expected {' or '.join(expect.rcode)}")
    asked = dns.rdatatype.from_text(target.record_type)
    records = [rdata.to_text() for rrset in answer.answer for rdata in rrset]
    if rcode == "NOERROR" and not any(rrset.rdtype == asked for rrset in answer.answer):
        return progress.finish(f"no {target.record_type} record for {target.name} (NOERROR)")
    problem = text_lacks(
        "\n".join(records), expect.answer_contains, expect.answer_regex, "answer", lines=True
    ) or slower_than(expect.max_latency, progress.mark_us)
    return progress.finish(problem)


def host_problem() -> str | None:
    """Loads dnspython, at the start of an agent with DNS checks only: the others are spared
    its 3 MB and its import time."""
    try:
        import dns.asyncquery  # noqa: F401
    except ImportError as error:
        return f"dnspython cannot be imported: {error}"
    return None


def from_url(url: str) -> dict[str, object]:
    """`dns://SERVER[:PORT]/NAME[?type=A]` (RFC 4501's form, with a server)."""
    try:
        parts = urlsplit(url.strip())
        server, port = parts.hostname, parts.port
    except ValueError:
        server = port = None
    name = unquote(parts.path.removeprefix("/")) if server else ""
    if not server or not name or parts.fragment:
        raise ValueError(f"must be {URL_FORM}")
    values: dict[str, object] = {"server": server, "name": parse_name(name)}
    if port is not None:
        values["port"] = port
    for pair in filter(None, re.split(r"[&;]", parts.query)):
        key, _, value = pair.partition("=")
        if key.lower() != "type":
            raise ValueError(f"{unquote(key)[:20]!r} is no parameter of {URL_FORM}")
        values["record_type"] = parse_record_type(unquote(value))
    return values


def parse_name(value: object) -> str:
    """A domain name, as written (a trailing dot allowed); an internationalised one in its
    ASCII form (IDNA)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a domain name like acme.example")
    text = value.strip()
    try:
        ascii_name = text.encode("idna").decode("ascii") if not text.isascii() else text
    except UnicodeError:
        raise ValueError("must be a domain name like acme.example") from None
    labels = ascii_name.removesuffix(".").split(".")
    if len(ascii_name.removesuffix(".")) > 253 or not all(map(_LABEL.fullmatch, labels)):
        raise ValueError("must be a domain name like acme.example")
    return ascii_name


def parse_record_type(value: object) -> str:
    text = str(value).strip().upper() if isinstance(value, str) else ""
    if text not in RECORD_TYPES:
        raise ValueError(f"must be one of {', '.join(RECORD_TYPES)}")
    return text


def parse_rcodes(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    codes = tuple(str(item).strip().upper() if isinstance(item, str) else "" for item in items)
    if not codes or not all(code in RCODES for code in codes):
        raise ValueError(f"must be an rcode or a list of them: {', '.join(RCODES)}")
    return codes


DNS_NAME = Kind("domain name", parse_name, example="acme.example")
RECORD_TYPE = Kind(" | ".join(RECORD_TYPES), parse_record_type, example="MX")
RCODE = Kind("rcode or list of rcodes", parse_rcodes, example="NXDOMAIN")

CHECK_TYPE = CheckTypeSpec(
    name="dns",
    doc="One DNS query to one server, over UDP (again over TCP when the answer is truncated), "
    "timed as the `dns` phase. UP when the rcode is expected and, for NOERROR, the answer holds "
    "a record of the type asked (and meets `answer_contains` / `answer_regex`).",
    keys=Table(
        (
            Key(
                "url",
                Kind("URL (dns)"),
                f"`{URL_FORM}`: instead of `server`, `port`, `name` and `record_type`.",
                example="dns://192.0.2.53/acme.example?type=A",
            ),
            Key(
                "server",
                HOST,
                "The DNS server asked (an IP address, or a name looked up first).",
                required=True,
                example="192.0.2.53",
            ),
            Key("port", PORT, "The server's port.", default=DEFAULT_PORT, example="5353"),
            Key("name", DNS_NAME, "The name asked about.", required=True),
            Key("record_type", RECORD_TYPE, "The record type asked for.", default="A"),
        )
    ),
    expect=Table(
        (
            Key(
                "rcode",
                RCODE,
                "The answer codes that count as UP (`NXDOMAIN` to check that a name is gone).",
                default="NOERROR",
            ),
            Key(
                "answer_contains",
                TEXT,
                "Text the answer's records must contain, one record per line as `dig +short` "
                "prints them.",
                example='"192.0.2.10"',
            ),
            Key(
                "answer_regex",
                REGEX,
                "A Python regular expression searched in the answer's records, one per line "
                "(`^` and `$` match at each record).",
                example='"^10 mx[0-9]\\\\.acme\\\\.example\\\\.$"',
            ),
            Key("max_latency", POSITIVE_DURATION, "Slower counts as DOWN.", example="200ms"),
        )
    ),
    target=DnsTarget,
    expect_target=DnsExpect,
    probe=probe,
    host_problem=host_problem,
    schemes=("dns",),
    from_url=from_url,
    example="""\
- id: acme-dns
  url: dns://192.0.2.53/acme.example?type=A
  expect: {answer_contains: "192.0.2.10"}
- id: acme-mail-dns
  type: dns
  server: ns1.acme.example
  name: acme.example
  record_type: MX
  expect: {answer_regex: "mx[0-9]\\\\.acme\\\\.example\\\\.$", max_latency: 200ms}""",
)
