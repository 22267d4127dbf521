"""Real headless Chromium for the browser tests (`@pytest.mark.browser`): run it on a URL, and
a local proxy that adds a bearer token, since a browser cannot send one itself.

The proxy passes the collector's status and its page's headers through (Content-Type and the
Content-Security-Policy included), so a page must render under the policy it is served with.
"""

from __future__ import annotations

import asyncio
import shutil
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
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
