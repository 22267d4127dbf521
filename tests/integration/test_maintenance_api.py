"""Maintenance declared at run time (issue 4): POST, GET and DELETE /api/v1/maintenance through
the real collector app and SQLite file, and what it does to reports (CONTRACT §4.4, §4.7)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from slawatch.collector.main import Collector
from slawatch.config.loader import parse_config
from tests.integration.test_report_api import (
    ACME,
    ADMIN,
    CONFIG,
    GLOBEX,
    NOW,
    Clock,
    auth,
    declare,
    get,
    push_day,
    report,
)

CONFIG_WITH_WINDOWS = CONFIG.replace(
    "    objective: 99.5\n",
    """    objective: 99.5
    timezone: Europe/Paris
    maintenance:
      - {every: tuesday, at: "03:00", duration: 30m, reason: weekly patching}
      - {start: 2026-11-20T22:00:00, end: 2026-11-20T23:00:00, reason: "move <rack>"}
""",
)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], tmp_path: Path, clock: Clock) -> TestClient:
    config = parse_config(CONFIG_WITH_WINDOWS, base_dir=tmp_path, process="collector")
    return await aiohttp_client(Collector(config, clock=clock).app)


async def listed(client: TestClient, token: str = ADMIN, **query: str) -> list[dict[str, Any]]:
    status, answer = await get(client, "/api/v1/maintenance", token, **query)
    assert status == 200, answer
    return answer["maintenance"]


async def test_a_declared_window_round_trip_changes_the_report(client: TestClient) -> None:
    # The day of test_report_api without its maintenance: the 02:00–03:00 hour is UP, so up
    # is 78,660 + 3,600 = 82,260 s and nothing is maintenance.
    await push_day(client)
    before = await report(client, period="2026-11-03")
    assert (before["up_s"], before["maintenance_s"], before["maintenance"]) == (82260.0, 0.0, [])

    status, created = await declare(
        client,
        {"slas": ["acme-web", "acme-platform"], "start": "2026-11-03T03:00:00+01:00",
         "end": "2026-11-03T03:00:00Z", "reason": "database upgrade"},
    )  # fmt: skip
    assert status == 201
    assert created == {
        "id": created["id"], "source": "declared", "slas": ["acme-platform", "acme-web"],
        "start": "2026-11-03T02:00:00Z", "end": "2026-11-03T03:00:00Z", "duration_s": 3600.0,
        "reason": "database upgrade", "created": "2026-11-10T12:00:00Z",
        "kind": "maintenance", "category": None,
    }  # fmt: skip
    during = await report(client, period="2026-11-03")
    assert (during["up_s"], during["maintenance_s"]) == (78660.0, 3600.0)
    assert during["maintenance"] == [{**created, "slas": ["acme-web"]}]

    response = await client.delete(f"/api/v1/maintenance/{created['id']}", headers=auth(ADMIN))
    assert response.status == 204
    after = await report(client, period="2026-11-03")
    assert after == before
    response = await client.delete(f"/api/v1/maintenance/{created['id']}", headers=auth(ADMIN))
    assert response.status == 404


async def test_the_list_shows_config_windows_expanded_and_declared_ones(client: TestClient) -> None:
    status, declared = await declare(
        client,
        {"sla": "acme-platform", "start": "2026-11-12T01:00:00Z", "end": "2026-11-12T02:00:00Z"},
    )
    assert status == 201
    found = await listed(client, sla="acme-platform", period="2026-W47")
    # ISO week 47 of 2026 in Paris: Monday 16 to Sunday 22 November. Tuesday 17 at 03:00 local
    # (02:00Z) for 30 min, and the one-off of the 20th, local time (21:00Z). The declared window
    # of the 12th is outside the week.
    assert [(m["source"], m["start"], m["end"], m["reason"], m["id"]) for m in found] == [
        ("config", "2026-11-17T02:00:00Z", "2026-11-17T02:30:00Z", "weekly patching", None),
        ("config", "2026-11-20T21:00:00Z", "2026-11-20T22:00:00Z", "move <rack>", None),
    ]
    # Without a window: each SLA's current period (November, as of the 10th), and declared
    # windows not over yet.
    found = await listed(client)
    assert [m["start"] for m in found if m["source"] == "config"] == [
        "2026-11-03T02:00:00Z", "2026-11-10T02:00:00Z", "2026-11-17T02:00:00Z",
        "2026-11-20T21:00:00Z", "2026-11-24T02:00:00Z",
    ]  # fmt: skip
    assert [m for m in found if m["source"] == "declared"] == [declared]


async def test_customers_see_the_windows_of_their_own_slas_only(client: TestClient) -> None:
    _, both = await declare(
        client,
        {"slas": ["acme-web", "globex-api"], "start": "2026-11-11T01:00:00Z", "end": "2026-11-11T02:00:00Z"},
    )  # fmt: skip
    _, globex_only = await declare(
        client,
        {"sla": "globex-api", "start": "2026-11-12T01:00:00Z", "end": "2026-11-12T02:00:00Z"},
    )
    acme = await listed(client, ACME, sla="acme-web")
    assert [(m["id"], m["slas"]) for m in acme] == [(both["id"], ["acme-web"])]
    assert {m["id"] for m in await listed(client, GLOBEX)} == {both["id"], globex_only["id"]}
    assert (await get(client, "/api/v1/maintenance", ACME, sla="globex-api"))[0] == 404


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({"start": "2026-11-03T02:00:00Z", "end": "2026-11-03T03:00:00Z"},
         [{"field": "sla", "error": "give either sla (one id) or slas (a list of ids)"}]),
        ({"sla": "acme-web", "slas": ["acme-web"], "start": "2026-11-03T02:00:00Z", "end": "2026-11-03T03:00:00Z"},
         [{"field": "sla", "error": "give either sla (one id) or slas (a list of ids)"}]),
        ({"slas": ["acme-web", "nope", 3], "start": "2026-11-03T02:00:00Z", "end": "2026-11-03T03:00:00Z"},
         [{"field": "slas[1]", "error": "no SLA 'nope' in the config"}, {"field": "slas[2]", "error": "must be an SLA id"}]),
        ({"slas": [], "start": "2026-11-03T02:00:00Z", "end": "2026-11-03T03:00:00Z"},
         [{"field": "slas", "error": "must be a list of one or more SLA ids"}]),
        ({"sla": "acme-web", "start": "2026-11-03T02:00:00Z", "end": "2026-11-03T02:00:00Z"},
         [{"field": "end", "error": "must be after start"}]),
        ({"sla": "acme-web", "start": "2026-11-03T02:00:00", "end": 1762135200},
         [{"field": "start", "error": "must be an RFC 3339 time with an offset, like 2026-11-01T00:00:00Z"},
          {"field": "end", "error": "must be an RFC 3339 time with an offset"}]),
        ({"sla": "acme-web", "end": "2026-11-03T03:00:00Z"}, [{"field": "start", "error": "is required"}]),
        ({"sla": "acme-web", "start": "2026-01-01T00:00:00Z", "end": "2027-06-01T00:00:00Z"},
         [{"field": "end", "error": "a window lasts at most 366 days"}]),
        ({"sla": "acme-web", "start": "1960-01-01T00:00:00Z", "end": "1960-01-02T00:00:00Z"},
         [{"field": "start", "error": "must be in the years 1970 to 9998"}, {"field": "end", "error": "must be in the years 1970 to 9998"}]),
        ({"sla": "acme-web", "start": "2026-11-03T02:00:00Z", "end": "2026-11-03T03:00:00Z", "reason": ["x"]},
         [{"field": "reason", "error": "must be a text of at most 1000 characters"}]),
        ([1, 2], [{"field": "", "error": "must be an object"}]),
    ],
)  # fmt: skip
async def test_a_bad_declaration_is_a_400_naming_each_field_and_stores_nothing(
    client: TestClient, body: Any, details: list[dict[str, str]]
) -> None:
    status, answer = await declare(client, body)
    assert (status, answer["details"]) == (400, details)
    assert await listed(client) == [m for m in await listed(client) if m["source"] == "config"]


@pytest.mark.parametrize("body", [b"", b"{", b'{"sla": NaN}', b"\xff"])
async def test_a_body_that_is_not_json_is_a_400(client: TestClient, body: bytes) -> None:
    response = await client.post("/api/v1/maintenance", data=body, headers=auth(ADMIN))
    assert response.status == 400
    assert set(await response.json()) == {"error", "details"}


async def test_a_huge_body_is_a_413(client: TestClient) -> None:
    body = b'{"reason": "' + b"x" * 100_000 + b'"}'
    response = await client.post("/api/v1/maintenance", data=body, headers=auth(ADMIN))
    assert response.status == 413


@pytest.mark.parametrize("maintenance_id", ["abc", "1.5", "-1", "99999999999999999999999"])
async def test_deleting_an_id_that_cannot_exist_is_a_404(
    client: TestClient, maintenance_id: str
) -> None:
    response = await client.delete(f"/api/v1/maintenance/{maintenance_id}", headers=auth(ADMIN))
    assert response.status == 404


async def test_declared_windows_survive_a_restart(
    aiohttp_client: Callable[..., Any], tmp_path: Path, clock: Clock
) -> None:
    config = parse_config(CONFIG_WITH_WINDOWS, base_dir=tmp_path, process="collector")
    first = await aiohttp_client(Collector(config, clock=clock).app)
    _, created = await declare(
        first, {"sla": "acme-web", "start": "2026-11-10T11:00:00Z", "end": "2026-11-10T13:00:00Z"}
    )
    await first.close()
    second = await aiohttp_client(Collector(config, clock=clock).app)
    assert [m for m in await listed(second) if m["source"] == "declared"] == [created]


async def test_declaring_and_deleting_maintenance_moves_the_sla_gauges_at_once(
    client: TestClient,
) -> None:
    # The day's outage (10:00–10:10 on the 3rd) under maintenance: nothing down, 100 %.
    await push_day(client)

    async def availability() -> float:
        text = await (await client.get("/metrics")).text()
        name = 'slawatch_sla_availability_percent{sla="acme-web"}'
        [line] = [found for found in text.splitlines() if found.startswith(name)]
        return float(line.rsplit(" ", 1)[1])

    before = await availability()
    assert before < 100
    _, created = await declare(
        client, {"sla": "acme-web", "start": "2026-11-03T09:00:00Z", "end": "2026-11-03T11:00:00Z"}
    )
    assert await availability() == 100.0
    response = await client.delete(f"/api/v1/maintenance/{created['id']}", headers=auth(ADMIN))
    assert response.status == 204
    assert await availability() == before
