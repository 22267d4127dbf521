"""One outage, one error (issue 14): agent `a` is cut off from T0 (network unreachable), `b` and `c`
get HTTP 503 from T0+300. The check (majority) and its SLA are DOWN from T0+300, and the
`down` alerts, the report's incident, the status page and the weekly digest all name the 503:
an agent failing alone since before the outage did not start it. Samples go through the ingest
API of the real collector app into a real SQLite file; the webhook is a local stand-in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from slawatch.collector.alerts import digest
from slawatch.collector.alerts.service import SERVICE
from slawatch.collector.app import STORE
from slawatch.collector.engine.periods import Window
from slawatch.collector.main import Collector
from slawatch.config.loader import parse_config
from tests.chat_services import ChatServices
from tests.support import async_wait_until

ADMIN = "admin-token-0123456789"
TOKENS = {"a": "a-token-0123456789abcd", "b": "b-token-0123456789abcd",
          "c": "c-token-0123456789abcd"}  # fmt: skip
T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC).timestamp()
UNREACHABLE = "connect: network unreachable"
STATUS_503 = "status 503 (expected 200-399)"


class Clock:
    now = T0 - 600

    def __call__(self) -> float:
        return self.now


def config_text(services: ChatServices) -> str:
    agents = ", ".join(f"{{id: {agent}, token: {token}}}" for agent, token in TOKENS.items())
    return f"""
collector:
  listen: 127.0.0.1:0
  database: data/collector.db
  admin_token: {ADMIN}
  agents: [{agents}]
  customers: [{{id: acme, name: ACME, public_status: true}}]
checks:
  - {{id: web, url: "http://127.0.0.1:1/", interval: 10s}}
slas:
  - {{id: shop, customer: acme, checks: [web], objective: 99.9}}
alerts:
  group_window: 0s
  channels:
    - {{id: tickets, type: webhook, url: "{services.url_for("webhook")}",
        secret: "{services.webhook_secret}"}}
  rules:
    - {{checks: [web], slas: [shop], channels: [tickets], events: [down]}}
"""


def sample(ts: float, error: str | None) -> dict[str, Any]:
    failed = error is not None
    return {"check": "web", "ts": ts, "ok": not failed, "latency_ms": None if failed else 20.0,
            "interval_s": 10, "type": "http", "status_code": 503 if error == STATUS_503 else
            None if failed else 200, "error": error}  # fmt: skip


async def test_the_alert_the_report_the_status_page_and_the_digest_name_one_error(
    aiohttp_client: Callable[..., Any], services: ChatServices, tmp_path: Path
) -> None:
    clock = Clock()
    services.clock = clock
    config = parse_config(config_text(services), base_dir=tmp_path, process="collector")
    client = await aiohttp_client(Collector(config, clock=clock).app)

    def seen_by(agent: str, ts: float) -> str | None:
        if agent == "a":
            return UNREACHABLE if ts >= T0 else None
        return STATUS_503 if ts >= T0 + 300 else None

    for ts in range(int(T0 - 600), int(T0 + 400), 10):
        clock.now = ts
        for agent, token in TOKENS.items():
            response = await client.post(
                "/api/v1/samples",
                json={"agent": agent, "samples": [sample(ts, seen_by(agent, ts))]},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status == 200, await response.text()
    clock.now = T0 + 400
    await client.app[SERVICE].evaluate_now()

    def downs() -> list[Any]:
        found = [r.json() for r in services.received("webhook") if r.status == 200]
        return found if len(found) == 2 else []

    alerts = {(d["check"], d["sla"]): d for d in await async_wait_until(downs)}
    assert alerts[("web", None)]["since"] == alerts[(None, "shop")]["since"]
    assert alerts[("web", None)]["since"] == "2026-11-27T03:05:00Z"
    assert {d["error"] for d in alerts.values()} == {STATUS_503}
    views = {v["agent"]: v["error"] for v in alerts[("web", None)]["agents"]}
    assert views == {"a": UNREACHABLE, "b": STATUS_503, "c": STATUS_503}  # all still shown

    admin = {"Authorization": f"Bearer {ADMIN}"}
    response = await client.get("/api/v1/slas/shop/report?period=2026-11-27", headers=admin)
    (incident,) = (await response.json())["incidents"]
    assert (incident["start"], incident["error"]) == ("2026-11-27T03:05:00Z", STATUS_503)

    status = await (await client.get("/api/v1/status/acme")).json()
    (ongoing,) = status["slas"][0]["open_incidents"]
    assert ongoing["error"] == STATUS_503
    page = await (await client.get("/status/acme")).text()
    assert "503" in page and "unreachable" not in page

    week = Window(round(datetime(2026, 11, 23, tzinfo=UTC).timestamp() * 1000),
                  round(datetime(2026, 11, 30, tzinfo=UTC).timestamp() * 1000))  # fmt: skip
    review = await digest.build(
        client.app[STORE], config.slas, "2026-W48", week, round(clock.now * 1000),
        report_link={}, link=None,
    )  # fmt: skip
    (reviewed,) = review.slas[0].incidents
    assert reviewed.error == STATUS_503
