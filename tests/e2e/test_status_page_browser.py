"""The status page in real headless Chromium, served by a real collector on loopback.

The scene of `tests.integration.test_status_page`, pushed through the ingest API, with the last
30 minutes changed: `web` failing for two of its three agents (an open incident) and `db` under
a declared maintenance. Chromium reads the public page itself (no token needed) under the
collector's Content-Security-Policy; the DOM it builds must carry the JSON twin's numbers and
90 day cells per SLA, and a phone-width screenshot must render. The private page goes through
a proxy that adds the customer's token, and its report link must lead to the report.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import aiohttp
import pytest

from slawatch.collector.main import Collector
from slawatch.config.loader import parse_config
from tests.browser import BROWSER_MARKS, chromium, png_size, token_proxy
from tests.integration.test_status_page import (
    ADMIN,
    AGENT_TOKENS,
    CONFIG,
    GLOBEX,
    MIN,
    NOW,
    SECRETS,
    STEP,
    Clock,
    auth,
    iso,
    sample,
    scene,
)

pytestmark = BROWSER_MARKS
SINCE = NOW - 30 * MIN


@dataclass
class Served:
    url: str
    """The collector's base URL."""
    session: aiohttp.ClientSession


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    config = parse_config(CONFIG, base_dir=tmp_path, process="collector")
    collector = Collector(config, clock=Clock(NOW))
    await collector.start()
    try:
        async with aiohttp.ClientSession() as session:
            for agent, token in AGENT_TOKENS.items():
                samples = scene(agent, until_ms=SINCE) + [
                    sample(ts, agent == "ap-1", "web", "connection refused")
                    for ts in range(SINCE, NOW, STEP)
                ]
                for start in range(0, len(samples), 5000):
                    async with session.post(
                        f"{collector.url}/api/v1/samples", headers=auth(token),
                        json={"agent": agent, "samples": samples[start : start + 5000]},
                    ) as response:  # fmt: skip
                        assert response.status == 200
            async with session.post(
                f"{collector.url}/api/v1/maintenance", headers=auth(ADMIN),
                json={"sla": "acme-db", "start": iso(SINCE), "end": iso(NOW + 60 * MIN),
                      "reason": "storage <migration>"},
            ) as response:  # fmt: skip
                assert response.status == 201
            yield Served(collector.url, session)
    finally:
        await collector.stop()


async def twin(served: Served, customer: str, token: str | None = None) -> dict[str, Any]:
    headers = auth(token) if token else {}
    async with served.session.get(
        f"{served.url}/api/v1/status/{customer}", headers=headers
    ) as response:
        assert response.status == 200
        return await response.json()


def article(dom: str, sla: str) -> str:
    found = re.search(
        rf'<article class="card sla" id="sla-{re.escape(sla)}".*?</article>', dom, re.S
    )
    assert found, f"no card of {sla} in the DOM"
    return found.group(0)


async def test_the_dom_chromium_builds_carries_the_json_twins_numbers(
    served: Served, tmp_path: Path
) -> None:
    data = await twin(served, "acme")
    dom = await chromium(tmp_path, "--dump-dom", f"{served.url}/status/acme")
    overall = re.search(r'<strong id="overall" data-status="([a-z_]+)">([^<]+)</strong>', dom)
    assert overall and overall.groups() == (data["status"], data["status_text"])
    assert data["status"] == "major_outage"  # what is not under maintenance is down
    assert [s["state"] for s in data["slas"]] == ["outage", "maintenance"]
    for status in data["slas"]:
        card = article(dom, status["id"])
        shown = re.search(r'<data class="availability" value="([^"]+)">', card)
        assert shown and float(shown.group(1)) == status["availability"]
        assert f'data-state="{status["state"]}"' in card
        assert re.findall(r'<li class="([a-z_]+)" role="img"', card) == [
            day["level"] for day in status["days"]
        ]
        assert len(re.findall(r"<li [^>]*aria-label=", card)) == 90
    assert 'outage since <time datetime="2026-11-10T11:30:00Z">2026-11-10 12:30 CET</time>' in dom
    assert "storage &lt;migration&gt;" in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom and "<script" not in dom
    assert 'class="report"' not in dom
    for secret in SECRETS:
        assert secret not in dom


async def test_a_private_page_through_a_token_proxy_links_the_report(
    served: Served, tmp_path: Path
) -> None:
    async with token_proxy(served.url, GLOBEX) as proxy:
        page_url = f"{proxy}/status/globex"
        dom = await chromium(tmp_path, "--dump-dom", page_url)
        assert '<h1 id="customer">Globex</h1>' in dom
        link = re.search(r'<a class="report" href="([^"]+)">', dom)
        assert link
        report = await chromium(
            tmp_path, "--dump-dom", urljoin(page_url, link.group(1).replace("&amp;", "&"))
        )
        assert '<h1 id="sla-name">Globex API</h1>' in report
        assert '<div class="period" id="period">November 2026</div>' in report


async def test_a_phone_width_screenshot_renders(served: Served, tmp_path: Path) -> None:
    shot = tmp_path / "phone.png"
    await chromium(
        tmp_path, "--hide-scrollbars", "--window-size=390,1800", f"--screenshot={shot}",
        f"{served.url}/status/acme",
    )  # fmt: skip
    assert png_size(shot) == (390, 1800)
    assert shot.stat().st_size > 20_000  # bars, text and colours, not a blank page
