"""`slawatch collector` as a process, alerts end to end (issue 15): a SIGTERM while a chat service is
slow to answer lets the delivery finish and commits it (never sent twice); an agent whose clock
is 10 minutes behind makes one `no_data` per check, naming its clock, not one per sample. The chat
service is a local stand-in in the test process; samples go through the real ingest API."""

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


def write_config(folder: Path, port: int, channel: str, rule: str) -> Path:
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
    - {channel}
  rules:
    - {rule}
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


async def push(url: str, session: aiohttp.ClientSession, samples: list[dict[str, Any]]) -> None:
    async with session.post(
        f"{url}/api/v1/samples",
        json={"agent": "eu-1", "samples": samples},
        headers={"Authorization": f"Bearer {AGENT}"},
    ) as response:
        assert response.status == 200, await response.text()


def failures(check: str) -> list[dict[str, Any]]:
    now = time.time()
    return [
        {"check": check, "ts": now - 20 + i, "ok": False, "latency_ms": None,
         "interval_s": 30, "error": "connection refused"}
        for i in range(0, 20, 5)
    ]  # fmt: skip


async def notifications(url: str, session: aiohttp.ClientSession) -> list[dict[str, Any]]:
    async with session.get(
        f"{url}/api/v1/notifications", headers={"Authorization": f"Bearer {ADMIN}"}
    ) as response:
        assert response.status == 200
        return (await response.json())["notifications"]


async def test_sigterm_lets_a_delivery_in_flight_finish_and_commits_it(
    tmp_path: Path, services: ChatServices
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    channel = f'{{id: ops, type: slack, url: "{services.url_for("slack")}"}}'
    config = write_config(
        tmp_path, port, channel, '{checks: ["*"], channels: [ops], events: [down]}'
    )
    services.delay_next(2.0)  # Slack takes 2 s to answer the first message
    async with aiohttp.ClientSession() as session:
        process = await start(config, url, session)
        try:
            await push(url, session, failures("web"))
            await services.wait_for_arrivals(1, timeout=20)  # the down is in flight
        finally:
            code, _, err = await asyncio.to_thread(stop_process, process)
        assert code == 0, err
        assert [r.status for r in services.received("slack")] == [200]

        process = await start(config, url, session)
        try:
            (sent,) = await notifications(url, session)
            assert (sent["status"], sent["attempts"]) == ("sent", 1)
            await push(url, session, failures("api"))  # queued behind anything still waiting
            await services.wait_for_requests(2, timeout=20)
        finally:
            code, _, err = await asyncio.to_thread(stop_process, process)
        assert code == 0, err
    texts = [r.json()["text"] for r in services.received("slack")]
    assert [text.split(" — ")[0] for text in texts] == ["DOWN web", "DOWN api"]


async def test_a_clock_ten_minutes_behind_is_one_no_data_per_check_naming_it(
    tmp_path: Path, services: ChatServices
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    channel = (
        f'{{id: tickets, type: webhook, url: "{services.url_for("webhook")}",'
        f' secret: "{services.webhook_secret}"}}'
    )
    config = write_config(tmp_path, port, channel, '{checks: ["*"], channels: [tickets]}')
    checks = [f"check-{n}" for n in range(5)]
    async with aiohttp.ClientSession() as session:
        process = await start(config, url, session)
        try:

            async def skewed_push() -> None:
                stamped = time.time() - 600  # what a clock 10 minutes behind says
                await push(url, session, [
                    {"check": check, "ts": stamped, "ok": True, "latency_ms": 5.0,
                     "interval_s": 1} for check in checks
                ])  # fmt: skip

            async def told() -> list[Any]:
                await skewed_push()
                found = [r.json() for r in services.received("webhook")]
                return found if len(found) >= len(checks) else []

            await async_wait_until(told, timeout=20, interval=0.5)
            for _ in range(16):  # 8 s more of samples, each arriving 10 minutes "late"
                await skewed_push()
                await asyncio.sleep(0.5)  # the agent's push rhythm, not a wait for a result
            rows = await notifications(url, session)
        finally:
            code, _, err = await asyncio.to_thread(stop_process, process)
        assert code == 0, err
    assert sorted(row["subject"] for row in rows) == [f"check:{check}" for check in checks]
    bodies = [r.json() for r in services.received("webhook")]
    assert sorted(body["check"] for body in bodies) == checks
    for body in bodies:
        assert body["event"] == "no_data"
        ((clock,),) = [body["clocks_behind"]]
        assert clock["agent"] == "eu-1" and 600 <= clock["behind_s"] < 630
        assert "agent clock behind by 10m" in body["summary"]
