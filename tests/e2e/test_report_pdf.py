"""The HTML report printed to PDF by real headless Chromium (Playwright's `page.pdf()`, Debian's
`chromium`), its pages rendered by poppler's `pdftoppm` and read by `pdftotext`: A4 pages, none
blank, nothing printed into the margins, every incident and the "How these figures are computed"
section whole, stating this SLA's own rules (quorum, forgiveness, unknown time, service hours,
holidays, exclusions, the credit as money).

The scene: 2026-11-03 (a Tuesday) in Paris, an 8×5 SLA with a fee, probed by three agents with
a one-minute outage every ten minutes: some 60 incidents in service hours, so several pages; one
of them excluded after the fact as customer-caused.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from slawatch.collector.main import Collector
from slawatch.config.loader import parse_config
from tests.browser import BROWSER_MARKS, CHROMIUM
from tests.integration.test_report_api import ACME, ADMIN, AGENT_TOKENS, CONFIG, NOW, Clock, auth
from tests.support import ms

pytestmark = [
    *BROWSER_MARKS,
    pytest.mark.skipif(not shutil.which("pdftoppm"), reason="needs poppler-utils (scripts/test)"),
]

PAGED = CONFIG.replace("ACME <website>", "ACME website").replace(
    "    latency: {percentile: 95, objective: 250ms}\n",
    "    latency: {percentile: 95, objective: 250ms}\n"
    "    timezone: Europe/Paris\n"
    "    min_downtime: 30s\n"
    '    hours: [{days: mon-fri, from: "08:00", to: "18:00"}]\n'
    "    holidays: [2026-11-11, 2026-12-25]\n"
    "    monthly_fee: {amount: 1250.00, currency: EUR}\n",
)
DAY = ms("2026-11-03T00:00:00Z")
MINUTE = 60_000
A4_POINTS = (595, 842)
DPI = 50
WHITE = 250


def samples(agent: str) -> list[dict]:
    """A failed probe at every tenth minute of the day (eu-1 and us-1: a majority)."""
    found = []
    for minute in range(24 * 60):
        failing = minute % 10 == 0 and agent != "ap-1"
        found.append(
            {"check": "web", "ts": (DAY + minute * MINUTE) / 1000, "ok": not failing,
             "latency_ms": None if failing else 120.0, "interval_s": 60, "type": "http",
             "error": f"HTTP 503 at minute {minute}" if failing else None}
        )  # fmt: skip
    return found


@pytest.fixture
async def report_url(tmp_path: Path) -> AsyncIterator[str]:
    config = parse_config(PAGED, base_dir=tmp_path, process="collector")
    collector = Collector(config, clock=Clock(NOW))
    await collector.start()
    try:
        async with aiohttp.ClientSession() as session:
            for agent, token in AGENT_TOKENS.items():
                async with session.post(
                    f"{collector.url}/api/v1/samples", headers=auth(token),
                    json={"agent": agent, "samples": samples(agent)},
                ) as response:  # fmt: skip
                    assert response.status == 200, await response.text()
            async with session.post(
                f"{collector.url}/api/v1/maintenance", headers=auth(ADMIN),
                json={"sla": "acme-web", "kind": "exclusion", "category": "customer",
                      "reason": "DNS change by the customer",
                      "start": "2026-11-03T09:00:00Z", "end": "2026-11-03T09:30:00Z"},
            ) as response:  # fmt: skip
                assert response.status == 201, await response.text()
        yield f"{collector.url}/api/v1/slas/acme-web/report?period=2026-11-03&format=html"
    finally:
        await collector.stop()


async def print_pdf(url: str, out: Path) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            page = await browser.new_page()
            await page.set_extra_http_headers({"Authorization": f"Bearer {ACME}"})
            response = await page.goto(url, timeout=60_000)
            assert response is not None and response.status == 200
            await page.emulate_media(media="print")
            await page.pdf(path=str(out), format="A4", prefer_css_page_size=True)
        finally:
            await browser.close()


async def run(*args: str) -> bytes:
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode(errors="replace")
    return out


def gray_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and pixels of a binary PGM (`pdftoppm -gray`)."""
    data = path.read_bytes()
    match = re.match(rb"P5\s+(\d+)\s+(\d+)\s+255\s", data)
    assert match, "not a binary PGM"
    width, height = int(match.group(1)), int(match.group(2))
    return width, height, data[match.end() : match.end() + width * height]


def inked_rows(width: int, height: int, pixels: bytes) -> list[int]:
    return [y for y in range(height) if min(pixels[y * width : (y + 1) * width]) < WHITE]


async def test_the_report_prints_on_whole_a4_pages_with_this_slas_rules(
    report_url: str, tmp_path: Path
) -> None:
    pdf = tmp_path / "report.pdf"
    await print_pdf(report_url, pdf)
    info = (await run("pdfinfo", str(pdf))).decode() if shutil.which("pdfinfo") else ""
    if info:
        size = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info)
        assert size and (round(float(size[1])), round(float(size[2]))) == A4_POINTS

    await run("pdftoppm", "-gray", "-r", str(DPI), str(pdf), str(tmp_path / "page"))
    pages = sorted(await asyncio.to_thread(lambda: list(tmp_path.glob("page-*.pgm"))))
    assert 2 <= len(pages) <= 8, f"{len(pages)} pages"
    margin = round(12 / 25.4 * DPI)  # the @page margins are 14–16 mm: keep 12 mm clear
    for page in pages:
        width, height, pixels = gray_pixels(page)
        rows = inked_rows(width, height, pixels)
        assert len(rows) > height // 10, f"{page.name} is (nearly) blank"
        assert rows[0] >= margin and rows[-1] < height - margin, f"{page.name}: ink in margins"
        columns = [x for x in range(width) if min(pixels[x::width]) < WHITE]
        assert columns[0] >= margin and columns[-1] < width - margin, f"{page.name}: cut at a side"

    text = (await run("pdftotext", "-layout", str(pdf), "-")).decode()
    json_incidents = await incidents_of(report_url)
    assert len(json_incidents) > 30
    for incident in json_incidents:  # every incident row printed, none lost at a page break
        assert incident["error"] in text, incident["error"]
    flat = " ".join((await run("pdftotext", str(pdf), "-")).decode().split())
    assert "How these figures are computed" in flat
    for rule in (
        "a check counts as down on more than half of the locations with a result seeing it "
        "down (quorum: majority)",
        "Outages shorter than 30 s are forgiven: counted as up.",
        "time without any result is unknown and is left out of the calculation",
        "Only service hours count: Mon–Fri 08:00–18:00 (Europe/Paris), except 11 Nov 2026, "
        "25 Dec 2026.",
        "excluded: customer-caused — DNS change by the customer",
        "Times are shown in Europe/Paris.",
    ):
        assert rule in flat, rule
    assert re.search(r"\d+\.\d\d EUR of a monthly fee of 1,250\.00 EUR", flat)


async def incidents_of(report_url: str) -> list[dict]:
    url = report_url.replace("&format=html", "")
    async with aiohttp.ClientSession() as session, session.get(url, headers=auth(ACME)) as got:
        assert got.status == 200
        return (await got.json())["incidents"]
