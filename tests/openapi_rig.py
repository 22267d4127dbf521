"""One collector process for the schemathesis runs of every route (tests/integration/
test_*openapi.py): customers public and private, SLAs, and an hour of data, so that reports and
status pages have something to answer with, and an alert channel."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import schemathesis

from tests.support import free_port, running_collector

ADMIN = "admin-token-0123456789"
AGENT = "eu1-token-0123456789ab"
CUSTOMERS = ("acme", "globex")
"""acme's status page is public, globex's needs its token."""
SLAS = ("acme-web", "acme-db")

CONFIG = """
collector:
  listen: 127.0.0.1:{port}
  database: data/collector.db
  admin_token: {admin}
  agents:
    - {{id: eu-1, token: {agent}}}
  customers:
    - {{id: acme, name: ACME, public_status: true}}
    - {{id: globex, name: Globex, token: globex-token-0123456789}}
slas:
  - {{id: acme-web, customer: acme, checks: [web], objective: 99.9, timezone: Europe/Paris,
      latency: {{objective: 300ms}},
      maintenance: [{{every: day, at: "03:00", duration: 10m, reason: nightly}}]}}
  - {{id: acme-db, customer: acme, checks: [web, db], objective: 99.5, min_downtime: 2m}}
  - {{id: globex-api, customer: globex, checks: [db], objective: 99.0}}
alerts:
  channels:
    - {{id: ops, type: slack, url: "http://127.0.0.1:{refused}/hook"}}
  rules:
    - {{checks: ["*"], channels: [ops]}}
"""
"""Nothing listens at the channel's port: test messages and alerts fail fast."""


MAX_REQUEST_LINE = 8190
"""aiohttp's limit of a request line, in bytes."""


def running_rig(folder: Path) -> Iterator[str]:
    """Start the collector in `folder`, push its hour of data, yield its URL."""
    port = free_port()
    config = folder / "collector.yaml"
    text = CONFIG.format(port=port, admin=ADMIN, agent=AGENT, refused=free_port())
    config.write_text(text, encoding="utf-8")
    url = f"http://127.0.0.1:{port}"
    with running_collector(config, url):
        push_an_hour(url)
        yield url


def push_an_hour(url: str) -> None:
    """A sample a minute of `web` and `db`, every 13th failing with an error holding markup."""
    start = time.time() - 3600
    samples = [
        {"check": check, "ts": start + 60 * i, "ok": i % 13 != 0, "latency_ms": 100.0 + i,
         "interval_s": 60, "error": None if i % 13 else "<b>HTTP 500</b>"}
        for i in range(60)
        for check in ("web", "db")
    ]  # fmt: skip
    request = urllib.request.Request(
        f"{url}/api/v1/samples",
        data=json.dumps({"agent": "eu-1", "samples": samples}).encode(),
        headers={"Authorization": f"Bearer {AGENT}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def operations(schema: schemathesis.schemas.BaseSchema) -> dict[str, schemathesis.APIOperation]:
    """The document's operations by label ("GET /api/v1/slas")."""
    return {op.label: op for op in (result.ok() for result in schema.get_all_operations())}


def sends_what_it_says(case: schemathesis.Case) -> bool:
    """False for a case with a query parameter of no values: the HTTP client sends no such
    parameter at all, so a negative case whose only fault it was (an unknown parameter) reaches
    the collector valid, and its 200 was reported as a schema-violating request accepted (found
    seldom, by hypothesis). Such cases are skipped (`assume`).

    False too for a request line over aiohttp's 8,190 bytes: the HTTP layer refuses it (400,
    "Got more than 8190 bytes when reading", in plain text) before any route or document
    applies (found seldom, by hypothesis, in a negative query)."""
    if any(value == [] for value in (case.query or {}).values()):
        return False
    query = urllib.parse.urlencode(case.query or {}, doseq=True)
    return len(case.formatted_path) + len(query) < MAX_REQUEST_LINE // 2  # clients encode more
