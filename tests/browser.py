"""Real headless Chromium for the browser tests (`@pytest.mark.browser`): run it on a URL, and
a local proxy that adds a bearer token, since a browser cannot send one itself; or drive it with
Playwright (`playwright_browser`), with what a page must not do watched (`Watched`) and an
accessibility pass by axe-core (`axe_violations`).

The proxy passes the collector's status and its page's headers through (Content-Type and the
Content-Security-Policy included), so a page must render under the policy it is served with.
"""

from __future__ import annotations

import asyncio
import shutil
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="needs chromium (scripts/test installs it)"
    ),
]
"""`pytestmark` of a browser test module."""
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
BROWSER_TIMEOUT_S = 60
PASSED_HEADERS = ("Content-Type", "Content-Security-Policy", "X-Content-Type-Options")


async def chromium(tmp_path: Path, *args: str) -> str:
    """Run Chromium with `args` (`--dump-dom URL`, `--screenshot=… URL`…); its stdout."""
    process = await asyncio.create_subprocess_exec(
        CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium'}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), BROWSER_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


@asynccontextmanager
async def token_proxy(target: str, token: str) -> AsyncIterator[str]:
    """A proxy on 127.0.0.1 forwarding GETs to `target` with `token`; yields its base URL."""
    async with aiohttp.ClientSession() as session:
        proxy = web.Application()
        proxy.router.add_get("/{path:.*}", _forward(session, target, token))
        runner = web.AppRunner(proxy, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            yield f"http://{host}:{port}"
        finally:
            await runner.cleanup()


def _forward(
    session: aiohttp.ClientSession, target: str, token: str
) -> Callable[[web.Request], Any]:
    async def forward(request: web.Request) -> web.Response:
        headers = {"Authorization": f"Bearer {token}"}
        async with session.get(f"{target}{request.path_qs}", headers=headers) as answer:
            body = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k in PASSED_HEADERS}
            return web.Response(body=body, status=answer.status, headers=kept)

    return forward


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG file, from its header (which must be a PNG's)."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR", "not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


# ------------------------------------------------------------------------------ Playwright

AXE = Path(__file__).resolve().parent.parent / ".cache" / "npm" / "node_modules" / "axe-core"
"""axe-core, installed by `scripts/test` (`npm install --prefix .cache/npm`)."""
SERIOUS = ("serious", "critical")


@asynccontextmanager
async def playwright_browser() -> AsyncIterator[Any]:
    """Debian's Chromium driven by Playwright (its own browser builds are never downloaded)."""
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Watched:
    """What a page said that it should not: console errors, uncaught errors, dialogs (an
    `alert()` that markup in data managed to run), Content-Security-Policy violations."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> Any:
        page.on("console", lambda m: self.errors.append(f"console: {m.text}")
                if m.type == "error" else None)  # fmt: skip
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

        async def dialog(d: Any) -> None:
            self.errors.append(f"dialog: {d.message}")
            await d.dismiss()

        page.on("dialog", dialog)
        return page


CSP_WATCH = """document.addEventListener("securitypolicyviolation",
  e => console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI));"""
"""An init script (Playwright runs it whatever the page's policy) reporting CSP violations as
console errors."""


async def axe_violations(page: Any, disabled: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The serious and critical violations axe-core finds on the page. Its context must bypass
    the CSP (`bypass_csp=True`): axe is injected as a script, which the pages' policy refuses."""
    if not (AXE / "axe.min.js").exists():
        pytest.skip("needs axe-core (scripts/test installs it under .cache/npm)")
    await page.add_script_tag(path=str(AXE / "axe.min.js"))
    rules = {rule: {"enabled": False} for rule in disabled}
    result = await page.evaluate("rules => axe.run(document, {rules})", rules)
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"][:200] for n in v["nodes"][:3]]}
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]
