"""`slawatch collector` as a process with notifications pending: killed with SIGKILL while the chat
service is down, started again, it delivers them, the same bytes under the same id, once. The
chat service is a local stand-in in the test process; samples go through the real ingest API."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.chat_services import ChatServices
from tests.support import async_wait_until, free_port, start_slawatch, stop_process

ADMIN = "admin-token-0123456789-secret"
AGENT = "agent-token-0123456789-secret"


def write_config(folder: Path, port: int, services: ChatServices) -> Path:
    config = folder / "collector.yaml"
    config.write_text(
        f"""
collector:
  listen: 127.0.0.1:{port}
  database: data/collector.db
  admin_token: {ADMIN}
  agents: [{{id: eu-1, token: {AGENT}}}]
alerts:
  group_window: 0s
  channels:
    - id: tickets
      type: webhook
      url: "{services.url_for("webhook")}"
      secret: "{services.webhook_secret}"
  rules:
    - {{checks: ["*"], channels: [tickets], events: [down, resolved]}}
""",
        encoding="utf-8",
    )
    return config


async def start(config: Path, url: str, session: aiohttp.ClientSession) -> subprocess.Popen[str]:
    process = start_slawatch(["--log-level", "warning", "collector", "--config", str(config)])

    async def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the collector exited: {process.communicate()[1]}")
        try:
            async with session.get(f"{url}/healthz") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    await async_wait_until(healthy, timeout=20)
    return process


async def push_failures(url: str, session: aiohttp.ClientSession) -> None:
    now = time.time()
    samples = [
        {"check": "web", "ts": now - 20 + i, "ok": False, "latency_ms": None,
         "interval_s": 30, "error": "connection refused"}
        for i in range(0, 20, 5)
    ]  # fmt: skip
    async with session.post(
        f"{url}/api/v1/samples",
        json={"agent": "eu-1", "samples": samples},
        headers={"Authorization": f"Bearer {AGENT}"},
    ) as response:
        assert response.status == 200, await response.text()


async def notifications(url: str, session: aiohttp.ClientSession) -> list[dict[str, Any]]:
    async with session.get(
        f"{url}/api/v1/notifications", headers={"Authorization": f"Bearer {ADMIN}"}
    ) as response:
        assert response.status == 200
        return (await response.json())["notifications"]


async def test_pending_notifications_survive_kill_9(tmp_path: Path, services: ChatServices) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, port, services)
    services.answer_next(503, "down for maintenance", times=10_000)
    async with aiohttp.ClientSession() as session:
        process = await start(config, url, session)
        try:
            await push_failures(url, session)

            async def failed_twice() -> list[dict[str, Any]]:
                found = await notifications(url, session)
                return found if found and found[0]["attempts"] >= 2 else []

            (pending,) = await async_wait_until(failed_twice, timeout=20)
            assert (pending["status"], pending["event"]) == ("pending", "down")
        finally:
            process.kill()
            await asyncio.to_thread(process.communicate)
        before = [r for r in services.received("webhook") if r.status == 503]
        assert len(before) >= 2
        services._queued.clear()  # the chat service is back

        process = await start(config, url, session)
        try:
            delivered = await services.wait_for_requests(len(before) + 1, timeout=20)

            async def sent() -> list[dict[str, Any]]:
                found = await notifications(url, session)
                return found if found and found[0]["status"] == "sent" else []

            (row,) = await async_wait_until(sent, timeout=20)
        finally:
            code, _, err = await asyncio.to_thread(stop_process, process)
        assert code == 0, err
    ok = [r for r in delivered if r.status == 200]
    assert len(ok) == 1
    assert ok[0].body == before[0].body  # the stored bytes: same id, same payload
    assert ok[0].json()["id"] == pending["id"] == row["id"]
    assert row["attempts"] == len(before) + 1
    assert services.token not in err
