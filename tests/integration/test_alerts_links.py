"""Links in alerts open with a click: a delivered message's link to a private status page or to an
SLA's HTML report opens without a token, because it is signed (`slawatch.collector.links`); a tampered,
expired or re-aimed link is refused; the signature grants nothing but its page. Real collector
app, real SQLite file, the webhook stand-in receiving the messages."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from yarl import URL

from slawatch.collector.links import VALID_S
from slawatch.collector.main import Collector
from slawatch.config.loader import parse_config
from tests.chat_services import ChatServices
from tests.integration.test_alerts_flow import ADMIN, EU1, T0, Clock, channel_yaml, sample
from tests.integration.test_alerts_flow import Rig as FlowRig
from tests.support import async_wait_until

ACME_TOKEN = "acme-token-0123456789ab"
GLOBEX_TOKEN = "globex-token-0123456789"


def config_text(services: ChatServices, collector: str) -> str:
    return f"""
collector:
{collector}
  database: data/collector.db
  admin_token: {ADMIN}
  agents: [{{id: eu-1, token: {EU1}}}]
  customers:
    - {{id: acme, name: ACME, token: {ACME_TOKEN}}}
    - {{id: globex, name: Globex, token: {GLOBEX_TOKEN}}}
    - {{id: initech, name: Initech, public_status: true}}
checks:
  - {{id: web, url: "http://127.0.0.1:1/", interval: 10s}}
  - {{id: portal, url: "http://127.0.0.1:1/", interval: 10s}}
  - {{id: db, url: "http://127.0.0.1:1/", interval: 10s}}
  - {{id: site, url: "http://127.0.0.1:1/", interval: 10s}}
  - {{id: lone, url: "http://127.0.0.1:1/", interval: 10s}}
slas:
  - {{id: shop, customer: acme, checks: [web], objective: 99.9}}
  - {{id: portal, customer: globex, checks: [portal], objective: 99.9}}
  - {{id: intranet, checks: [db], objective: 99}}
  - {{id: site, customer: initech, checks: [site], objective: 99}}
alerts:
  channels:
{channel_yaml(services, "webhook")}  rules:
    - {{checks: ["*"], channels: [webhook], after: 0s, events: [down]}}
"""


class Rig(FlowRig):
    async def down(self, *checks: str) -> dict[str, str | None]:
        """The checks fail; returns the link of each one's delivered `down`."""
        await self.push("eu-1", EU1, [sample(self.clock.now, False, check) for check in checks])
        self.clock.now += 10
        await self.service.evaluate_now()

        def delivered() -> list[Any]:
            found = self.services.received("webhook")
            return found if len(found) >= len(checks) else []

        bodies = [r.json() for r in await async_wait_until(delivered)]
        return {body["check"]: body["link"] for body in bodies}

    async def get(self, link: str, token: str | None = None) -> tuple[int, str]:
        """A click on the link (its path and query on this collector), no token by default."""
        url = URL(link)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.client.get(url.raw_path_qs, headers=headers)
        return response.status, await response.text()


@pytest.fixture
def make_rig(
    aiohttp_client: Callable[..., Any], services: ChatServices, tmp_path: Path
) -> Callable[..., Any]:
    async def make(
        collector: str = "  listen: 127.0.0.1:0\n  public_url: https://sla.example.com",
    ) -> Rig:
        clock = Clock()
        services.clock = clock
        config = parse_config(
            config_text(services, collector), base_dir=tmp_path, process="collector"
        )
        client = await aiohttp_client(Collector(config, clock=clock).app)
        return Rig(client, services, clock)

    return make


def re_aimed(link: str, path: str | None = None, **query: str) -> str:
    url = URL(link)
    return str(url.with_path(path or url.path).update_query(query))


async def test_a_link_to_a_private_status_page_opens_without_a_token(
    make_rig: Callable[..., Any],
) -> None:
    rig = await make_rig()
    link = (await rig.down("web"))["web"]
    assert link is not None and link.startswith("https://sla.example.com/status/acme?expires=")
    status, page = await rig.get(link)
    assert status == 200 and "ACME" in page
    assert "/report?" not in page  # the public view: a report needs a token of its own
    assert (await rig.get("https://sla.example.com/status/acme"))[0] == 401  # without signature


async def test_a_tampered_expired_or_re_aimed_link_is_refused(
    make_rig: Callable[..., Any],
) -> None:
    rig = await make_rig()
    link = (await rig.down("web"))["web"]
    assert link is not None
    signature = URL(link).query["signature"]
    tampered = re_aimed(link, signature=("0" if signature[0] != "0" else "1") + signature[1:])
    later = re_aimed(link, expires=str(int(URL(link).query["expires"]) + 86_400))
    for refused in (
        tampered,
        later,
        re_aimed(link, "/status/globex"),  # another customer
        re_aimed(link, "/status/acme.json"),  # the JSON twin
        re_aimed(link, "/api/v1/status/acme"),
        re_aimed(link, "/api/v1/slas/shop/report", format="html"),
        re_aimed(link, "/api/v1/checks"),
        re_aimed(link, "/status/acme", period="2026-10"),  # a parameter added
    ):
        status, body = await rig.get(refused)
        assert status == 401, (refused, body)
    status, body = await rig.get(tampered)
    assert "expired or its signature is not valid" in json.loads(body)["error"]
    rig.clock.now = T0 + 10 + VALID_S - 1
    assert (await rig.get(link))[0] == 200
    rig.clock.now = T0 + 10 + VALID_S
    assert (await rig.get(link))[0] == 401  # 30 days on


async def test_a_report_link_opens_the_html_report_and_nothing_else(
    make_rig: Callable[..., Any],
) -> None:
    rig = await make_rig()
    links = await rig.down("db", "lone", "site")
    assert links["lone"] is None  # in no SLA: no admin-only page to point at
    assert links["site"] == "https://sla.example.com/status/initech"  # public: not signed
    link = links["db"]  # in an SLA without a customer: its report
    assert link is not None
    url = URL(link)
    assert (url.path, url.query["format"]) == ("/api/v1/slas/intranet/report", "html")
    assert "period" not in url.query  # the current period, whenever it is opened
    status, page = await rig.get(link)
    assert status == 200 and page.lstrip().lower().startswith("<!doctype html")
    for refused in (
        re_aimed(link, format="json"),
        re_aimed(link, format="csv"),
        re_aimed(link, period="2026-10"),
        re_aimed(link, "/api/v1/slas/shop/report"),
        re_aimed(link, "/api/v1/incidents"),
    ):
        assert (await rig.get(refused))[0] == 401, refused
    # a token still works as before, and a signature is no substitute for one elsewhere
    assert (await rig.get(link.split("?")[0] + "?format=json", ADMIN))[0] == 200
    status, _ = await rig.get(re_aimed(link, "/api/v1/slas"))
    assert status == 401


async def test_without_public_url_a_wildcard_listen_links_to_the_loopback_and_warns(
    make_rig: Callable[..., Any],
) -> None:
    with capture_logs() as logs:
        rig = await make_rig("  listen: 0.0.0.0:8480")
    (warning,) = [e for e in logs if e["event"] == "public_url_missing"]
    assert warning["log_level"] == "warning" and warning["links"] == "http://127.0.0.1:8480"
    link = (await rig.down("web"))["web"]
    assert link is not None and link.startswith("http://127.0.0.1:8480/status/acme?expires=")
    assert (await rig.get(link))[0] == 200
