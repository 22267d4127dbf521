"""The pages in real headless Chromium (Playwright), on a real collector with the crafted scene
of `tests.pages_scene`: signing in with Enter and out, the numbers, states and counts each page
shows against the JSON API's, a customer kept to its own pages, markup in names and errors
shown as text, no console error or CSP violation, no horizontal scroll at 375 px, light and dark,
and an axe-core pass without serious or critical violations. Screenshots are saved under the
test's tmp folder (`pages-*.png`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from slawatch.collector.main import Collector
from tests.browser import BROWSER_MARKS, CSP_WATCH, Watched, axe_violations, playwright_browser
from tests.pages_scene import ACME, ADMIN, served
from tests.support import auth

pytestmark = BROWSER_MARKS
PHONE = {"width": 375, "height": 800}
DESKTOP = {"width": 1280, "height": 900}
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360f8cf000000030101005b1bd1d30000000049454e44ae426082"
)
"""A 1×1 PNG: the customer's logo, served in place of its CDN (the test reaches no network)."""


@dataclass
class Site:
    collector: Collector
    url: str
    browser: Any
    shots: Path

    async def api(self, path: str) -> Any:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.url}{path}", headers=auth(ADMIN)) as response,
        ):
            assert response.status == 200
            return await response.json()

    async def page(
        self, watched: Watched, *, viewport: dict[str, int] = DESKTOP, **options: Any
    ) -> Any:
        context = await self.browser.new_context(viewport=viewport, **options)
        await context.add_init_script(CSP_WATCH)
        await context.route("https://cdn.acme.example/**", lambda route: route.fulfill(
            status=200, content_type="image/png", body=PNG))  # fmt: skip
        return watched.watch(await context.new_page())


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with served(tmp_path) as collector, playwright_browser() as browser:
        yield Site(collector, collector.url, browser, tmp_path)


async def sign_in(site: Site, page: Any, token: str, then: str = "/") -> None:
    await page.goto(f"{site.url}{then}")
    assert "/login" in page.url
    await page.fill("#token", token)
    await page.press("#token", "Enter")
    await page.wait_for_load_state()


async def test_the_overview_shows_the_apis_figures_and_signing_out_closes_it(site: Site) -> None:
    watched = Watched()
    page = await site.page(watched)
    await sign_in(site, page, ADMIN)
    assert page.url == f"{site.url}/"
    checks = (await site.api("/api/v1/checks"))["checks"]
    for state in ("up", "down", "unknown"):
        shown = await page.inner_text(f"#count-{state}")
        assert int(shown) == sum(1 for c in checks if c["state"] == state), state
    assert await page.inner_text("#count-up") == "2" and await page.inner_text("#count-down") == "1"
    assert await page.inner_text("#count-stale") == "1"
    for check in checks:
        row = page.locator(f"#check-{check['id']}")
        assert await row.get_attribute("data-state") == check["state"]
        for agent in check["agents"]:
            cell = row.locator(f"li[data-agent='{agent['agent']}']")
            assert await cell.get_attribute("data-state") == agent["state"]
    stale = page.locator("#check-api li[data-agent='us-1']")
    assert "stale" in await stale.inner_text() and "1 h 05 min ago" in await stale.inner_text()
    assert await page.locator("#check-api").get_attribute("class") == "stale"
    for sla in (await site.api("/api/v1/slas"))["slas"]:
        row = page.locator(f"#sla-{sla['id']}")
        assert await row.get_attribute("data-verdict") == sla["verdict"]
        shown = await row.locator("data.availability").get_attribute("value")
        assert float(shown) == sla["availability"]
    assert await page.get_attribute("#sla-acme-db", "data-verdict") == "breached"
    assert await page.inner_text("#sla-acme-web td:first-child strong") == (
        "<script>alert('sla')</script> web"
    )  # markup in a name is text
    counts = (await site.api("/api/v1/notifications"))["counts"]
    waiting = sum(c["pending"] + c["held"] for c in counts.values())
    assert int(await page.inner_text("#waiting-count")) == waiting == 1
    assert await page.inner_text("#alert-count") == "1"
    await page.screenshot(path=site.shots / "pages-overview.png", full_page=True)

    await page.select_option("#f-customer", "globex")
    await page.click("form.filters button")
    await page.wait_for_load_state()
    assert "customer=globex" in page.url
    assert await page.locator("#checks tbody tr").count() == 1
    assert await page.locator("#slas tbody tr").count() == 1
    await page.goto(f"{site.url}/?state=down")
    assert [await r.get_attribute("id") for r in await page.locator("#checks tbody tr").all()] == [
        "check-db"
    ]

    await page.click("text=Sign out")
    await page.click("form button[type=submit]")
    await page.wait_for_url(f"{site.url}/login")
    await page.goto(f"{site.url}/")
    assert "/login" in page.url
    assert watched.errors == []


async def test_a_check_page_shows_its_agents_charts_phases_and_incidents(site: Site) -> None:
    watched = Watched()
    page = await site.page(watched)
    await sign_in(site, page, ADMIN, then="/checks/web")
    assert page.url == f"{site.url}/checks/web"
    assert await page.get_attribute("#check-state", "data-state") == "up"
    assert await page.locator("#agents tbody tr[data-state=up]").count() == 3
    labels = page.locator("#agents tbody tr[data-agent=eu-1] .labels")
    assert await labels.inner_text() == "site=<b>lab</b>"  # an agent's labels are text too
    assert await page.get_attribute("#day-figures data.p50", "value") == "200.0"
    assert await page.get_attribute("#day-figures data.p95", "value") == "300.0"
    week_p50 = float(await page.get_attribute("#week-figures data.p50", "value") or "nan")
    assert week_p50 == pytest.approx(200, rel=0.02)  # from histograms: within a bucket's width
    assert await page.locator("#chart-day polyline").count() == 2
    rows = page.locator("#phases tbody tr")
    assert await rows.count() == 10
    totals = {await rows.nth(i).locator("td").nth(6).inner_text() for i in range(10)}
    assert totals == {"100.0", "200.0", "300.0"}
    first = [await rows.nth(0).locator("td").nth(i).inner_text() for i in range(1, 7)]
    total = float(first[-1])
    assert [float(v) for v in first[:5]] == pytest.approx(
        [total * f for f in (0.10, 0.20, 0.30, 0.35, 0.05)]
    )
    assert "in 30 days" in await page.inner_text("#tls")
    await page.screenshot(path=site.shots / "pages-check-web.png", full_page=True)

    await page.goto(f"{site.url}/checks/db")
    assert await page.get_attribute("#check-state", "data-state") == "down"
    assert await page.inner_text("#incident-count") == "1"
    incident = await page.inner_text("#incidents li")
    assert "ongoing" in incident and "connection refused" in incident.lower()
    assert "<img src=x onerror=alert('error')>" in incident  # the error's markup is text
    assert await page.locator("main img").count() == 0
    await page.goto(f"{site.url}/checks/nope")
    assert "No such check" in await page.inner_text("h1")
    assert [e for e in watched.errors if "404" not in e] == []


async def test_a_customer_reaches_only_its_own_pages(site: Site) -> None:
    watched = Watched()
    page = await site.page(watched)
    await sign_in(site, page, ACME, then="/login")
    assert page.url == f"{site.url}/status/acme"
    assert await page.inner_text("#customer") == "ACME <script>alert('customer')</script>"
    logo = page.locator("#logo")
    assert await logo.get_attribute("src") == "https://cdn.acme.example/logo.png"
    assert await logo.evaluate("img => img.complete && img.naturalWidth") == 1  # the CSP allows it
    report = page.locator("a.report").first
    await report.click()
    await page.wait_for_load_state()
    assert "/api/v1/slas/acme-" in page.url and await page.locator("#sla-name").count() == 1
    for path, status in (("/", 403), ("/checks/web", 403), ("/admin", 403),
                         ("/status/globex", 404), ("/badge/globex-api/status.svg", 404),
                         ("/badge/acme-web/availability.svg", 200)):  # fmt: skip
        response = await page.goto(f"{site.url}{path}")
        assert response.status == status, path
    assert "availability" in await page.content()
    await page.goto(f"{site.url}/")
    assert "Not allowed" in await page.inner_text("h1")
    await page.click("text=Continue")
    assert page.url == f"{site.url}/status/acme"
    await page.click("#sign-out")
    await page.click("form button[type=submit]")
    await page.wait_for_url(f"{site.url}/login")
    response = await page.goto(f"{site.url}/status/acme")
    assert response.status == 401
    refused = [e for e in watched.errors if any(f"status of {s}" in e for s in (401, 403, 404))]
    assert [e for e in watched.errors if e not in refused] == []


PAGES = ["/", "/checks/web", "/checks/db", "/admin", "/status/acme"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_every_page_fits_a_phone_and_passes_axe(site: Site, scheme: str) -> None:
    watched = Watched()
    page = await site.page(watched, viewport=PHONE, color_scheme=scheme, bypass_csp=True)
    await sign_in(site, page, ADMIN)
    backgrounds = set()
    for path in ["/login", *PAGES]:
        if path == "/login":
            await page.goto(f"{site.url}/logout")  # the sign-in page itself, then back in
            await page.click("form button[type=submit]")
            await page.wait_for_url(f"{site.url}/login")
        else:
            await page.goto(f"{site.url}{path}")
        if "/login" in page.url and path != "/login":
            await page.fill("#token", ADMIN)
            await page.press("#token", "Enter")
            await page.wait_for_load_state()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], (path, width)
        name = path.strip("/").replace("/", "-") or "overview"
        await page.screenshot(path=site.shots / f"pages-{name}-{scheme}-375.png", full_page=True)
        # The status page refreshes itself with <meta http-equiv=refresh> (kept: it is
        # self-contained, no script by design); the pages do it with a script.
        disabled = ("meta-refresh",) if path.startswith("/status/") else ()
        assert await axe_violations(page, disabled) == [], path
        backgrounds.add(await page.evaluate("getComputedStyle(document.body).backgroundColor"))
    dark = {"rgb(18, 23, 27)"}
    assert (backgrounds <= dark) if scheme == "dark" else not (backgrounds & dark)
    assert watched.errors == []


async def test_the_pages_policy_stops_an_injected_script(site: Site) -> None:
    watched = Watched()
    page = await site.page(watched)
    await sign_in(site, page, ADMIN)
    response = await page.goto(f"{site.url}/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    async with page.expect_console_message(
        lambda m: "CSP violation: script-src" in m.text, timeout=10_000
    ):
        ran = await page.evaluate("""() => {
            window.ran = false;
            const s = document.createElement("script");
            s.textContent = "window.ran = true";
            document.body.appendChild(s);
            return window.ran; }""")  # fmt: skip
    assert ran is False
