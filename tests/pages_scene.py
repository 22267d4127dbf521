"""A collector with crafted data for the page tests (`tests/integration/test_pages*.py`,
`tests/e2e/test_pages_browser.py`), its clock at 2026-11-10 12:00 UTC, samples every 5 minutes
for the last 2 days, pushed through the ingest API:

- `web` (SLA `acme-web`, objective 99.9): eu-1, us-1 and ap-1 all up, answering in 100, 200 and
  300 ms (phases dns 10 %, connect 20 %, tls 30 %, ttfb 35 %, transfer 5 %): every half-hour
  of the 24 h chart has p50 200 ms and p95 300 ms. TLS certificate valid 30 more days.
- `db` (SLA `acme-db`, objective 99.95): eu-1 only, down for the last 30 minutes with an error
  carrying markup: an ongoing incident, the SLA breached (30 min down > its budget of 16.2 min).
- `api` (SLA `globex-api`, private page): eu-1 up; us-1 stopped an hour ago (stale).
- `umbrella-web` (check `web` again): Umbrella's page is public.
Names carry markup (`<script>` in an SLA's and a customer's name, `<img>` in the error) to show
that pages render them as text. A webhook channel pointing at a closed port keeps the `db`
alert's notification waiting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from slawatch.collector.main import Collector
from slawatch.config.loader import parse_config
from tests.support import auth, free_port, ms

ADMIN = "admin-token-0123456789"
ACME = "acme-token-0123456789a"
GLOBEX = "globex-token-01234567"
AGENTS = {"eu-1": "eu1-token-0123456789ab", "us-1": "us1-token-0123456789ab",
          "ap-1": "ap1-token-0123456789ab"}  # fmt: skip
NOW = ms("2026-11-10T12:00:00Z")
MIN = 60_000
STEP = 5 * MIN
START = NOW - 2 * 86_400_000
DB_DOWN = NOW - 30 * MIN
API_SILENT = NOW - 60 * MIN
SCRIPT_NAME = "<script>alert('sla')</script> web"
CUSTOMER_NAME = "ACME <script>alert('customer')</script>"
ERROR = "<img src=x onerror=alert('error')> connection refused"
LATENCY = {"eu-1": 100.0, "us-1": 200.0, "ap-1": 300.0}
TLS_EXPIRES_S = NOW / 1000 + 30 * 86_400


def config_text(extra_collector: str = "") -> str:
    agents = "".join(f"    - {{id: {a}, token: {t}}}\n" for a, t in AGENTS.items())
    return f"""
collector:
  listen: 127.0.0.1:0
  database: data/collector.db
  admin_token: {ADMIN}
  agents:
{agents}
  customers:
    - id: acme
      name: "{CUSTOMER_NAME}"
      token: {ACME}
      brand: {{logo_url: "https://cdn.acme.example/logo.png", accent: "#0a7d5a"}}
    - {{id: globex, name: Globex, token: {GLOBEX}}}
    - {{id: umbrella, name: Umbrella, public_status: true}}
{extra_collector}
checks:
  - {{id: web, url: "https://acme.example/health"}}
  - {{id: db, type: tcp, host: db.acme.example, port: 5432}}
  - {{id: api, url: "https://globex.example/api"}}
slas:
  - {{id: acme-web, customer: acme, name: "{SCRIPT_NAME}", checks: [web], objective: 99.9}}
  - {{id: acme-db, customer: acme, name: ACME database, checks: [db], objective: 99.95}}
  - {{id: globex-api, customer: globex, name: Globex API, checks: [api], objective: 99.0}}
  - {{id: umbrella-web, customer: umbrella, name: Umbrella web, checks: [web], objective: 99.0}}
alerts:
  channels:
    - {{id: ops-hook, type: webhook, url: "http://127.0.0.1:{free_port()}/hook", secret: hook-secret-0123456789}}
  rules:
    - {{checks: ["db"], channels: [ops-hook]}}
"""


def sample(check: str, ts: int, agent: str, ok: bool = True) -> dict[str, Any]:
    latency = LATENCY[agent]
    found: dict[str, Any] = {
        "check": check, "ts": ts / 1000, "ok": ok, "interval_s": STEP / 1000,
        "type": "tcp" if check == "db" else "http",
    }  # fmt: skip
    if ok:
        found["latency_ms"] = latency
        found["status_code"] = None if check == "db" else 200
        found["phases_ms"] = {
            "dns": latency * 0.10, "connect": latency * 0.20, "tls": latency * 0.30,
            "ttfb": latency * 0.35, "transfer": latency * 0.05,
        }  # fmt: skip
        found["tls_expires"] = TLS_EXPIRES_S
    else:
        found["latency_ms"] = 10.0
        found["error"] = ERROR
    return found


def samples(agent: str) -> list[dict[str, Any]]:
    found = []
    for ts in range(START, NOW, STEP):
        found.append(sample("web", ts, agent))
        if agent == "eu-1":
            found.append(sample("db", ts, agent, ok=ts < DB_DOWN))
            found.append(sample("api", ts, agent))
        if agent == "us-1" and ts < API_SILENT:
            found.append(sample("api", ts, agent))
    return found


class Clock:
    def __init__(self, now_ms: int) -> None:
        self.now = now_ms / 1000

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def served(tmp_path: Path, extra_collector: str = "") -> AsyncIterator[Collector]:
    """A started collector with the scene's samples stored."""
    config = parse_config(config_text(extra_collector), base_dir=tmp_path, process="collector")
    collector = Collector(config, clock=Clock(NOW))
    await collector.start()
    try:
        async with aiohttp.ClientSession() as session:
            for agent, token in AGENTS.items():
                batch = samples(agent)
                for start in range(0, len(batch), 5000):
                    async with session.post(
                        f"{collector.url}/api/v1/samples", headers=auth(token),
                        json={"agent": agent, "labels": {"site": "<b>lab</b>"},
                              "samples": batch[start : start + 5000]},
                    ) as response:  # fmt: skip
                        assert response.status == 200, await response.text()
        yield collector
    finally:
        await collector.stop()
