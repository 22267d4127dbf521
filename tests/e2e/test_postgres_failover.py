"""The alert leader killed during an outage (CONTRACT §6): PostgreSQL, two `slawatch collector`
processes, two `slawatch agent` processes (one pushing to each collector) probing a local
target, and a local chat receiver. The target goes down; once the leader has delivered `down`,
it is killed with SIGKILL; the other collector takes over within 15 s and delivers `resolved`
when the target is back. Each arrives once; the killed collector's agent keeps its samples and
delivers them when it is back (no gap in its runs); both collectors serve the same report."""

from __future__ import annotations

import itertools
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

from slawatch.collector.store import create_store
from tests.chat_services import ChatServices
from tests.e2e.test_collector_agent import Target
from tests.postgres_cluster import Cluster
from tests.support import async_wait_until, free_port, start_slawatch, stop_process

ADMIN = "admin-token-0123456789-secret"
TOKENS = {"eu-1": "agent-eu-token-0123456789", "us-1": "agent-us-token-0123456789"}
TAKEOVER_S = 15


def collector_config(folder: Path, name: str, port: int, database: str, *, services: ChatServices,
                     target: Target) -> Path:  # fmt: skip
    config = folder / f"{name}.yaml"
    config.write_text(
        f"""
collector:
  listen: 127.0.0.1:{port}
  database: "{database}"
  admin_token: {ADMIN}
  agents:
    - {{id: eu-1, token: {TOKENS["eu-1"]}}}
    - {{id: us-1, token: {TOKENS["us-1"]}}}
checks:
  - id: web
    url: http://127.0.0.1:{target.port}/health
    interval: 500ms
    timeout: 400ms
    expect: {{status: [200]}}
slas:
  - id: shop
    checks: [web]
    objective: 99.9
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


def agent_config(folder: Path, agent: str, collector_url: str, metrics_port: int,
                 target: Target) -> Path:  # fmt: skip
    config = folder / f"agent-{agent}.yaml"
    config.write_text(
        f"""
agent:
  id: {agent}
  collector: {collector_url}
  token: {TOKENS[agent]}
  spool: {folder / f"{agent}-spool.db"}
  metrics_listen: 127.0.0.1:{metrics_port}
checks:
  - id: web
    url: http://127.0.0.1:{target.port}/health
    interval: 500ms
    timeout: 400ms
    expect: {{status: [200]}}
""",
        encoding="utf-8",
    )
    return config


async def metric(session: aiohttp.ClientSession, url: str, name: str) -> float | None:
    try:
        async with session.get(f"{url}/metrics") as response:
            text = await response.text()
    except aiohttp.ClientError:
        return None
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    return None


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url, headers={"Authorization": f"Bearer {ADMIN}"}) as response:
        assert response.status == 200, await response.text()
        return await response.json()


def events(services: ChatServices) -> list[str]:
    return [request.json()["event"] for request in services.received("webhook")]


async def start_collector(session: aiohttp.ClientSession, config: Path, url: str
                          ) -> subprocess.Popen[str]:  # fmt: skip
    process = start_slawatch(["--log-level", "warning", "collector", "--config", str(config)])

    async def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the collector exited: {process.communicate()[1]}")
        try:
            async with session.get(f"{url}/healthz") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    await async_wait_until(healthy, timeout=30)
    return process


async def test_the_alert_leader_killed_during_an_outage_is_replaced_and_nothing_is_lost(
    tmp_path: Path, postgres_cluster: Cluster, services: ChatServices
) -> None:
    database = postgres_cluster.new_database()
    target = Target()
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    configs = [collector_config(tmp_path, n, p, database, services=services, target=target)
               for n, p in zip("ab", ports, strict=True)]  # fmt: skip
    agent_ports = [free_port(), free_port()]
    processes: list[subprocess.Popen[str]] = []
    agents: list[subprocess.Popen[str]] = []
    started = time.time()
    try:
        async with aiohttp.ClientSession() as session:
            collectors = [await start_collector(session, c, u) for c, u in zip(configs, urls, strict=True)]  # fmt: skip
            processes += collectors
            for agent, url, port in zip(("eu-1", "us-1"), urls, agent_ports, strict=True):
                config = agent_config(tmp_path, agent, url, port, target)
                agents.append(start_slawatch(["--log-level", "warning", "agent", "--config", str(config)]))  # fmt: skip

            async def leader() -> tuple[int] | None:
                marks = [await metric(session, url, "slawatch_alert_leader") for url in urls]
                return (marks.index(1.0),) if marks.count(1.0) == 1 and 0.0 in marks else None

            async def web_states() -> dict[str, str]:
                """Each agent's state of the check, as the collectors see it."""
                checks = (await get_json(session, f"{urls[0]}/api/v1/checks"))["checks"]
                web = next((c for c in checks if c["id"] == "web"), {"agents": []})
                return {a["agent"]: a["state"] for a in web["agents"]}

            both_up = {"eu-1": "up", "us-1": "up"}
            await async_wait_until(lambda: _is(web_states(), both_up), timeout=30)
            (chosen,) = await async_wait_until(leader, timeout=30)
            target.status = 503
            await async_wait_until(lambda: "down" in events(services), timeout=30)

            async def down_sent() -> bool:
                listed = await get_json(session, f"{urls[chosen]}/api/v1/notifications")
                found = listed["notifications"] if isinstance(listed, dict) else listed
                return any(n["event"] == "down" and n["status"] == "sent" for n in found)

            await async_wait_until(down_sent, timeout=20)
            collectors[chosen].kill()  # SIGKILL, in the middle of the outage
            killed_at = time.monotonic()
            collectors[chosen].wait(10)
            survivor = 1 - chosen
            await async_wait_until(
                lambda: _is(metric(session, urls[survivor], "slawatch_alert_leader"), 1.0),
                timeout=TAKEOVER_S + 5,
            )
            takeover_s = time.monotonic() - killed_at
            assert takeover_s <= TAKEOVER_S, takeover_s
            target.status = 200
            await async_wait_until(lambda: "resolved" in events(services), timeout=30)
            # The killed collector comes back; its agent's spool empties into it.
            collectors[chosen] = await start_collector(session, configs[chosen], urls[chosen])
            processes.append(collectors[chosen])
            for port in agent_ports:
                await async_wait_until(
                    lambda port=port: _is(
                        metric(session, f"http://127.0.0.1:{port}", "slawatch_spool_samples"), 0.0
                    ),
                    timeout=30,
                )
            assert events(services).count("down") == 1
            assert events(services).count("resolved") == 1
            window = f"from={_rfc3339(started - 60)}&to={_rfc3339(time.time() - 2)}"
            reports = [
                await get_json(session, f"{url}/api/v1/slas/shop/report?{window}") for url in urls
            ]
            assert reports[0] == reports[1]
            assert reports[0]["down_s"] > 0 and reports[0]["incidents"]
        store = create_store(database)
        await store.open_readonly()
        try:
            runs = (await store.runs(["web"], 0, 2**62))["web"]
        finally:
            await store.close()
        for agent in ("eu-1", "us-1"):  # no gap: every sample reached the database
            series = runs[agent]
            assert [r.ok for r in series][:3] == [True, False, True], series
            assert all(a.end_ms >= b.start_ms for a, b in itertools.pairwise(series))
    finally:
        for process in [*agents, *processes]:
            stop_process(process)
        target.close()


async def _is(value: Any, wanted: Any) -> bool:
    return (await value) == wanted


def _rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
