"""The HTML report in real headless Chromium, served by a real collector on loopback.

The collector (in-process, real HTTP server and SQLite file) gets its samples through the
ingest API. Chromium cannot send a bearer token, so a small local proxy adds the customer's
token, as a browser extension or a provider's portal would; it passes the collector's headers
through, Content-Security-Policy included, so the page must render under it. The DOM Chromium
builds must carry the numbers of the JSON report, and printing it gives a real A4 PDF.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from slawatch.collector.main import Collector
from slawatch.config.loader import parse_config
from tests.browser import BROWSER_MARKS, chromium, token_proxy
from tests.integration.test_report_api import (
    ACME,
    ADMIN,
    AGENT_TOKENS,
    CONFIG,
    NOW,
    Clock,
    auth,
    day_samples,
)

pytestmark = BROWSER_MARKS


@dataclass
class Served:
    url: str
    """The proxy's base URL: paths as the collector's, the customer's token added."""
    collector_url: str


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    config = parse_config(CONFIG.replace("ACME <website>", "ACME website"), base_dir=tmp_path,
                          process="collector")  # fmt: skip
    collector = Collector(config, clock=Clock(NOW))
    await collector.start()
    session = aiohttp.ClientSession()
    try:
        async with session.post(
            f"{collector.url}/api/v1/maintenance", headers=auth(ADMIN),
            json={"sla": "acme-web", "start": "2026-11-03T02:00:00Z", "end": "2026-11-03T03:00:00Z",
                  "reason": "database upgrade"},
        ) as response:  # fmt: skip
            assert response.status == 201
        for agent, token in AGENT_TOKENS.items():
            async with session.post(
                f"{collector.url}/api/v1/samples", headers=auth(token),
                json={"agent": agent, "samples": day_samples(agent)},
            ) as response:  # fmt: skip
                assert response.status == 200
        async with token_proxy(collector.url, ACME) as proxy_url:
            yield Served(proxy_url, collector.url)
    finally:
        await session.close()
        await collector.stop()


async def json_report(served: Served) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(
        f"{served.collector_url}/api/v1/slas/acme-web/report", params={"period": "2026-11"},
        headers=auth(ACME),
    ) as response:  # fmt: skip
        assert response.status == 200
        return await response.json()


def data_value(dom: str, element_id: str) -> str:
    match = re.search(rf'<data id="{element_id}" value="([^"]*)"', dom)
    assert match, f"no <data id={element_id!r}> in the DOM"
    return match.group(1)


async def test_the_dom_chromium_builds_carries_the_reports_numbers(
    served: Served, tmp_path: Path
) -> None:
    data = await json_report(served)
    dom = await chromium(
        tmp_path,
        "--dump-dom",
        f"{served.url}/api/v1/slas/acme-web/report?period=2026-11&format=html",
    )
    assert float(data_value(dom, "availability")) == data["availability"]
    assert float(data_value(dom, "objective")) == data["objective"]
    assert float(data_value(dom, "budget")) == data["error_budget_s"]
    assert float(data_value(dom, "budget-remaining")) == data["error_budget_remaining_s"]
    assert float(data_value(dom, "credit")) == data["credit_percent"]
    assert int(data_value(dom, "latency-count")) == data["latency"]["count"]
    assert re.search(r'<h1 id="sla-name">ACME website</h1>', dom)
    assert '<strong id="customer">ACME Corp</strong>' in dom
    assert '<div class="period" id="period">November 2026</div>' in dom
    assert float(data_value(dom, "projected")) == data["projected_availability"]
    # November is in progress on the 10th: 600 s down, a third of the budget (CONTRACT §4.8).
    assert f'data-verdict="{data["verdict"]}">On track<' in dom and data["verdict"] == "on_track"
    incidents = re.search(r'<table id="incidents">(.*?)</table>', dom, re.S)
    assert incidents and incidents.group(1).count("<tr>") == 1 + len(data["incidents"])
    assert "HTTP 503" in incidents.group(1)
    assert "database upgrade" in dom


async def test_the_report_prints_to_a_pdf(served: Served, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    await chromium(
        tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
        f"{served.url}/api/v1/slas/acme-web/report?period=2026-11&format=html",
    )  # fmt: skip
    content = pdf.read_bytes()
    assert content.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type\s*/Page\b", content))
    assert 1 <= pages <= 4
    assert len(content) > 20_000  # text, tables and fonts, not a blank page
    # The document's title is the page's <title>, which names the SLA and the period.
    assert "ACME website" in pdf_title(content) and "November 2026" in pdf_title(content)
    if shutil.which("pdftotext"):
        process = await asyncio.create_subprocess_exec(
            "pdftotext", str(pdf), "-", stdout=asyncio.subprocess.PIPE
        )
        text = (await process.communicate())[0].decode()
        assert "ACME website" in text and "ACME Corp" in text


def pdf_title(content: bytes) -> str:
    match = re.search(rb"/Title\s*(\((?:\\.|[^\\)])*\)|<[0-9A-Fa-f]+>)", content)
    assert match, "the PDF has no title"
    raw = match.group(1)
    if raw.startswith(b"<"):
        data = bytes.fromhex(raw[1:-1].decode())
        return data.decode("utf-16") if data.startswith(b"\xfe\xff") else data.decode("latin-1")
    return re.sub(rb"\\(.)", rb"\1", raw[1:-1]).decode("latin-1")
