"""Where alert messages point (CONTRACT §3.2: "a link"): pages of the collector that open with a
click, never an admin-only page. See `Links`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from fnmatch import fnmatchcase
from ipaddress import ip_address
from urllib.parse import quote, urlencode

from slawatch.collector.links import LinkSigner
from slawatch.config.schema import Config, HostPort, Sla


@dataclass(frozen=True, slots=True)
class Page:
    """A page of the collector a message links to."""

    path: str
    query: tuple[tuple[str, str], ...] = ()
    public: bool = False
    """Readable without a token (a public status page): linked without a signature."""


class Links:
    """Where messages point, as links that open with a click (`slawatch.collector.links`): the
    status page of the target's customer, else the SLA's HTML report; signed for `links.VALID_S`
    unless the page is public. Never an admin-only page: a check no customer's SLA uses links
    to its SLA's report, and a check in no SLA (or an agent) to nothing.

    Without `collector.public_url`, links use `collector.listen`, with 127.0.0.1 (or [::1])
    for a wildcard address (`guessed`: the service warns at start)."""

    def __init__(self, config: Config, signer: LinkSigner | None = None) -> None:
        self.signer = signer if signer is not None else LinkSigner()
        self._config = config
        collector = config.collector
        self.guessed = False
        if collector is None:
            self.base = ""
        elif collector.public_url:
            self.base = collector.public_url.rstrip("/")
        else:
            host = collector.listen.host
            if _unspecified(host):
                self.guessed = True
                host = "::1" if ":" in host else "127.0.0.1"
            self.base = f"http://{HostPort(host, collector.listen.port)}"
        customers = collector.customers if collector else ()
        self._public = {c.id for c in customers if c.public_status}
        self._slas_of: dict[str, list[Sla]] = defaultdict(list)
        for sla in config.slas:
            for check in sla.checks:
                self._slas_of[check].append(sla)

    def url(self, page: Page, now_ms: int) -> str:
        if page.public:
            query = f"?{urlencode(page.query)}" if page.query else ""
            return f"{self.base}{page.path}{query}"
        return self.base + self.signer.sign(page.path, page.query, now=now_ms / 1000)

    def link(self, page: Page | None, now_ms: int) -> str | None:
        return None if page is None else self.url(page, now_ms)

    def sla(self, sla: Sla) -> Page:
        return self.status(sla.customer) if sla.customer else self.report(sla.id)

    def check(self, check_id: str) -> Page | None:
        slas = self._slas_of.get(check_id, [])
        customer = next((s.customer for s in slas if s.customer), None)
        if customer:
            return self.status(customer)
        return self.report(slas[0].id) if slas else None

    def status(self, customer: str) -> Page:
        return Page(f"/status/{quote(customer)}", public=customer in self._public)

    def report(self, sla_id: str, period: str | None = None) -> Page:
        query = [("format", "html")] + ([("period", period)] if period else [])
        return Page(f"/api/v1/slas/{quote(sla_id)}/report", tuple(query))

    def report_url(self, sla_id: str, period: str, now_ms: int) -> str:
        """The link to the SLA's printable report of `period`."""
        return self.url(self.report(sla_id, period), now_ms)

    def for_channel(self, channel_id: str) -> Page | None:
        """Where a test message to the channel points: a page its alerts link to (the first
        SLA or check with a page among those its rules watch), else the first customer's status
        page, else the first SLA's report; None when the config has neither (no page of the
        collector opens without a token then). A click proves that the links' base
        (`collector.public_url`) reaches this collector and that its pages open from the
        channel, the way they will in a real alert."""
        for rule in self._config.alerts.rules:
            if channel_id not in rule.channels:
                continue
            sla = next(filter(None, map(self._config.sla, rule.slas)), None)
            if sla is not None:
                return self.sla(sla)
            check = next(
                (c for c in sorted(self._slas_of) if any(fnmatchcase(c, g) for g in rule.checks)),
                None,
            )
            if check is not None:
                return self.check(check)
        collector = self._config.collector
        if collector is not None and collector.customers:
            return self.status(collector.customers[0].id)
        return self.sla(self._config.slas[0]) if self._config.slas else None


def _unspecified(host: str) -> bool:
    """0.0.0.0, ::: every interface, nobody's address to click."""
    try:
        return ip_address(host).is_unspecified
    except ValueError:
        return False
