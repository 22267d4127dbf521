"""Local stand-ins for the chat services, one aiohttp server on 127.0.0.1 for all of them.

Each route answers like its service on success (Slack `200 ok`, Discord `204`, Teams Workflows
`202`, Telegram `{"ok": true, ...}`…) and checks the payload the way the service does where it
matters to us: Slack's and Discord's size limits, Telegram's HTML entity parsing, the Teams card
envelope, our webhook's signature. Every request is recorded. Tests make it fail on demand: the
next N requests answer a given status (500, 429 with `Retry-After`, Telegram's flood answer,
404…) or hang until the server closes (timeouts).

    async with running_chat_services() as services:
        channel = services.channel("slack")
        ... deliver ...
        assert services.requests[0].json()["text"].startswith("DOWN")

The outbox tests reuse it.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

from slawatch.collector.alerts.events import (
    AgentSilent,
    AgentView,
    BurnRate,
    BurnWindow,
    Digest,
    DigestIncident,
    DigestSla,
    Down,
    Event,
    Flapping,
    FlappingEnded,
    Grouped,
    NoData,
    ObjectiveBreached,
    Reminder,
    Resolved,
    Subject,
    Test,
)
from slawatch.collector.alerts.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from slawatch.config.schema import Channel, Secret

SERVICES = (
    "slack",
    "discord",
    "teams",
    "googlechat",
    "telegram",
    "mattermost",
    "webhook",
    "ntfy",
    "pagerduty",
)
"""The channel types sent over HTTP (e-mail's stand-in is tests/smtp_server.py)."""


@dataclass(frozen=True, slots=True)
class Recorded:
    service: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    status: int
    """What the stand-in answered."""

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    hang: bool = False


@dataclass
class ChatServices:
    """The running stand-ins: `base_url`, the recorded `requests`, failures on demand."""

    base_url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    webhook_secret: str = field(default_factory=lambda: "whsec-" + secrets.token_hex(16))
    token: str = field(default_factory=lambda: "SECRETTOKEN" + secrets.token_hex(12))
    """Part of every webhook URL and the bot token: tests look for it in logs and errors."""
    ntfy_token: str = field(default_factory=lambda: "tk_" + secrets.token_hex(14))
    """The access token the ntfy stand-in asks of every publisher."""
    clock: Callable[[], float] | None = None
    """The webhook route's clock for signature freshness; None: the real time."""
    arrivals: int = 0
    """Requests received so far, answered or not (`requests` lists them once answered)."""
    _queued: deque[Answer] = field(default_factory=deque)
    _delays: deque[float] = field(default_factory=deque)
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    # ------------------------------------------------------------------------ configuration

    def channel(self, service: str, channel_id: str | None = None, **overrides: Any) -> Channel:
        """A channel of the config pointing at this stand-in."""
        settings: dict[str, Any] = {}
        if service == "telegram":
            settings |= {
                "bot_token": Secret(f"123456:{self.token}"),
                "chat_id": "-1001234567890",
                "api_url": f"{self.base_url}/telegram",
            }
        elif service == "pagerduty":
            settings |= {
                "routing_key": Secret(self.routing_key),
                "api_url": f"{self.base_url}/pagerduty",
            }
        else:
            settings["url"] = Secret(self.url_for(service))
        if service == "webhook":
            settings["secret"] = Secret(self.webhook_secret)
        if service == "ntfy":
            settings["token"] = Secret(self.ntfy_token)
        return Channel(channel_id or f"{service}-chat", service, settings | overrides)

    def url_for(self, service: str) -> str:
        paths = {
            "slack": f"/slack/services/T0001/B0001/{self.token}",
            "discord": f"/discord/api/webhooks/1234/{self.token}",
            "teams": f"/teams/workflows/{self.token}/triggers/manual/paths/invoke",
            "googlechat": f"/googlechat/v1/spaces/AAAA/messages?key={self.token}",
            "mattermost": f"/mattermost/hooks/{self.token}",
            "telegram": f"/telegram/bot123456:{self.token}/sendMessage",
            "webhook": f"/webhook/{self.token}",
            "ntfy": f"/ntfy/{self.ntfy_topic}",
            "pagerduty": f"/pagerduty/v2/enqueue?{self.routing_key}",
        }
        return self.base_url + paths[service]

    @property
    def routing_key(self) -> str:
        """PagerDuty's integration keys are 32 characters."""
        return self.token[:32]

    @property
    def ntfy_topic(self) -> str:
        """On a public server, the topic's name is its password."""
        return self.token

    def answer_next(
        self,
        status: int,
        body: bytes | str | dict[str, Any] = b"",
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` requests get this answer instead of the service's own."""
        headers = dict(headers or {})
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        self._queued.extend([Answer(status, body, headers)] * times)

    def rate_limit_next(self, retry_after: str, times: int = 1) -> None:
        self.answer_next(429, "rate_limited", {"Retry-After": retry_after}, times)

    def telegram_flood_next(self, retry_after: int) -> None:
        """What the Bot API answers past its flood limit: the wait is in the JSON body only."""
        self.answer_next(
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            },
        )

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """The next requests are answered (as they would be) only after `seconds`: a slow
        service, with a request in flight meanwhile."""
        self._delays.extend([seconds] * times)

    def hang_next(self, times: int = 1) -> None:
        """The next requests get no answer until the stand-in closes."""
        self._queued.extend([Answer(0, hang=True)] * times)

    # -------------------------------------------------------------------------------- reading

    def received(self, service: str) -> list[Recorded]:
        return [r for r in self.requests if r.service == service]

    async def wait_for_arrivals(self, count: int, timeout: float = 10.0) -> None:
        """Until `count` requests have arrived, answered yet or not."""
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: self.arrivals >= count), timeout)

    async def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[Recorded]:
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(self.requests) >= count), timeout
            )
        return self.requests

    # ------------------------------------------------------------------------------- serving

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/slack/services/{team}/{bot}/{key}", self._route("slack", _slack))
        app.router.add_post("/discord/api/webhooks/{id}/{key}", self._route("discord", _discord))
        app.router.add_post("/teams/workflows/{key}/{rest:.*}", self._route("teams", _teams))
        app.router.add_post(
            "/googlechat/v1/spaces/{space}/messages", self._route("googlechat", _googlechat)
        )
        app.router.add_post("/telegram/bot{token}/sendMessage", self._route("telegram", _telegram))
        app.router.add_post("/mattermost/hooks/{key}", self._route("mattermost", _mattermost))
        app.router.add_post("/webhook/{key}", self._route("webhook", self._webhook))
        app.router.add_post("/ntfy/", self._route("ntfy", self._ntfy))
        app.router.add_post("/pagerduty/v2/enqueue", self._route("pagerduty", _pagerduty_alert))
        app.router.add_post(
            "/pagerduty/v2/change/enqueue", self._route("pagerduty", _pagerduty_change)
        )
        return app

    def _route(
        self, service: str, native: Callable[[web.Request, bytes], Answer]
    ) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            async with self._arrived:
                self.arrivals += 1
                self._arrived.notify_all()
            if self._delays:
                await asyncio.sleep(self._delays.popleft())  # the service is slow to answer
            answer = self._queued.popleft() if self._queued else native(request, body)
            if answer.hang:
                await self._release.wait()
                answer = Answer(503, b"closing")
            await self._record(
                Recorded(service, request.path_qs, dict(request.headers), body, answer.status)
            )
            return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

        return handle

    async def _record(self, recorded: Recorded) -> None:
        async with self._arrived:
            self.requests.append(recorded)
            self._arrived.notify_all()

    def _ntfy(self, request: web.Request, body: bytes) -> Answer:
        """ntfy's JSON publishing at the root URL: a known topic, its token, its limits."""
        if request.headers.get("Authorization") != f"Bearer {self.ntfy_token}":
            return _json_answer(401, {"code": 40101, "http": 401, "error": "unauthorized"})
        payload = _payload(body)
        problems = ntfy_problems(payload) if isinstance(payload, dict) else ["not JSON"]
        if problems or payload["topic"] != self.ntfy_topic:
            return _json_answer(400, {"code": 40001, "http": 400, "error": "invalid request"})
        return _json_answer(200, {"id": "a1b2c3", "event": "message", "topic": payload["topic"]})

    def _webhook(self, request: web.Request, body: bytes) -> Answer:
        valid = verify_signature(
            self.webhook_secret,
            request.headers.get(TIMESTAMP_HEADER, ""),
            body,
            request.headers.get(SIGNATURE_HEADER, ""),
            self.clock() if self.clock else time.time(),
        )
        if not valid:
            return _json_answer(401, {"error": "bad signature"})
        return Answer(200, b"", {})


@asynccontextmanager
async def running_chat_services() -> AsyncIterator[ChatServices]:
    services = ChatServices()
    runner = web.AppRunner(services.app(), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    services.base_url = f"http://{host}:{port}"
    try:
        yield services
    finally:
        services._release.set()
        await runner.cleanup()


# ------------------------------------------------------------------------ the services' rules


def _slack(request: web.Request, body: bytes) -> Answer:
    """Slack answers `200 ok`, or 400 with a short reason (invalid_payload, invalid_blocks…)."""
    payload = _payload(body)
    if not isinstance(payload, dict):
        return Answer(400, b"invalid_payload")
    if not payload.get("text") and not payload.get("blocks"):
        return Answer(400, b"no_text")
    problems = slack_block_problems(payload.get("blocks", []))
    return Answer(400, b"invalid_blocks") if problems else Answer(200, b"ok")


def slack_block_problems(blocks: list[Any]) -> list[str]:
    problems = []
    if len(blocks) > 50:
        problems.append("more than 50 blocks")
    for block in blocks:
        if block.get("type") == "header" and len(block["text"]["text"]) > 150:
            problems.append("header over 150")
        if block.get("type") == "section":
            if "text" in block and len(block["text"]["text"]) > 3000:
                problems.append("section text over 3000")
            fields = block.get("fields", [])
            if len(fields) > 10 or any(len(f["text"]) > 2000 for f in fields):
                problems.append("section fields over limits")
    return problems


def _discord(request: web.Request, body: bytes) -> Answer:
    """Discord answers 204, or 400 `Invalid Form Body` past its documented limits."""
    payload = _payload(body)
    if not isinstance(payload, dict) or not (payload.get("content") or payload.get("embeds")):
        return _json_answer(400, {"code": 50006, "message": "Cannot send an empty message"})
    if discord_problems(payload):
        return _json_answer(400, {"code": 50035, "message": "Invalid Form Body"})
    return Answer(204)


def discord_problems(payload: dict[str, Any]) -> list[str]:
    def size(text: str) -> int:
        return len(text.encode("utf-16-le")) // 2

    problems = []
    if size(payload.get("content", "")) > 2000:
        problems.append("content")
    total = 0
    for embed in payload.get("embeds", []):
        fields = embed.get("fields", [])
        parts = [
            (embed.get("title", ""), 256),
            (embed.get("description", ""), 4096),
            (embed.get("footer", {}).get("text", ""), 2048),
        ]
        parts += [(f["name"], 256) for f in fields] + [(f["value"], 1024) for f in fields]
        problems += [text for text, limit in parts if size(text) > limit]
        problems += ["empty field"] * sum(1 for f in fields if not f["name"] or not f["value"])
        if len(fields) > 25:
            problems.append("fields")
        total += sum(size(text) for text, _ in parts)
    if total > 6000:
        problems.append("total")
    return problems


def _teams(request: web.Request, body: bytes) -> Answer:
    """A Workflows trigger accepts with 202; a body that is not a card message fails its flow."""
    payload = _payload(body)
    try:
        attachment = payload["attachments"][0]
        ok = (
            payload["type"] == "message"
            and attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
            and attachment["content"]["type"] == "AdaptiveCard"
        )
    except (KeyError, IndexError, TypeError):
        ok = False
    if not ok:
        return _json_answer(400, {"error": {"code": "InvalidRequestContent"}})
    return Answer(202)


def _googlechat(request: web.Request, body: bytes) -> Answer:
    payload = _payload(body)
    if not isinstance(payload, dict) or not payload.get("text") or len(payload["text"]) > 4096:
        return _json_answer(
            400, {"error": {"code": 400, "message": "Invalid JSON payload", "status": "INVALID"}}
        )
    return _json_answer(200, {"name": "spaces/AAAA/messages/1", "text": payload["text"]})


def _telegram(request: web.Request, body: bytes) -> Answer:
    """sendMessage: parses `text` as HTML like the Bot API; bad entities are a 400."""
    payload = _payload(body)
    if not isinstance(payload, dict) or not payload.get("chat_id") or not payload.get("text"):
        return _telegram_error(400, "Bad Request: message text is empty")
    if payload.get("parse_mode") == "HTML":
        visible = telegram_html_text(payload["text"])
        if visible is None:
            return _telegram_error(400, "Bad Request: can't parse entities")
    else:
        visible = payload["text"]
    if len(visible.encode("utf-16-le")) // 2 > 4096:
        return _telegram_error(400, "Bad Request: message is too long")
    return _json_answer(200, {"ok": True, "result": {"message_id": 1, "text": visible}})


_TELEGRAM_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "span"}
)
_BARE_AMPERSAND = re.compile(r"&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)")


class _TelegramHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.text: list[str] = []
        self.bad = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.bad |= tag not in _TELEGRAM_TAGS
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.bad = True

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def telegram_html_text(text: str) -> str | None:
    """The visible text of a Telegram HTML message, or None where the Bot API would refuse it."""
    if _BARE_AMPERSAND.search(text) or re.search(r"<(?![a-z/])", text):
        return None
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    if parser.bad or parser.open:
        return None
    return "".join(parser.text)


def _telegram_error(status: int, description: str) -> Answer:
    return _json_answer(status, {"ok": False, "error_code": status, "description": description})


def _mattermost(request: web.Request, body: bytes) -> Answer:
    payload = _payload(body)
    if not isinstance(payload, dict) or not (payload.get("text") or payload.get("attachments")):
        return _json_answer(400, {"message": "Unable to parse incoming data", "status_code": 400})
    return Answer(200, b"ok", {"Content-Type": "text/plain"})


def ntfy_problems(payload: dict[str, Any]) -> list[str]:
    problems = []
    if not re.fullmatch(r"[-_A-Za-z0-9]{1,64}", str(payload.get("topic", ""))):
        problems.append("topic")
    if len(str(payload.get("message", "")).encode()) > 4096:
        problems.append("message over 4096 bytes")
    if payload.get("priority") not in (None, 1, 2, 3, 4, 5):
        problems.append("priority")
    if not all(isinstance(tag, str) for tag in payload.get("tags", [])):
        problems.append("tags")
    if len(payload.get("actions", [])) > 3:
        problems.append("more than 3 actions")
    return problems


PAGERDUTY_SEVERITIES = ("critical", "error", "warning", "info")


def _pagerduty_alert(request: web.Request, body: bytes) -> Answer:
    """Events API v2 `/v2/enqueue`: 202 with the dedup_key, or 400 naming what is invalid."""
    payload = _payload(body)
    if not isinstance(payload, dict):
        return _pagerduty_invalid(["Event object is not JSON"])
    problems = pagerduty_problems(payload)
    action = payload.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        problems.append("'event_action' is invalid")
    if action in ("acknowledge", "resolve") and not payload.get("dedup_key"):
        problems.append("'dedup_key' is missing")
    if action == "trigger":
        event = payload.get("payload") or {}
        problems += pagerduty_payload_problems(event)
        if event.get("severity") not in PAGERDUTY_SEVERITIES:
            problems.append("'payload.severity' is invalid")
    if problems:
        return _pagerduty_invalid(problems)
    dedup_key = payload.get("dedup_key") or "generated-key"
    return _json_answer(
        202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key}
    )


def _pagerduty_change(request: web.Request, body: bytes) -> Answer:
    """`/v2/change/enqueue`: a change event, 202 with no body to speak of."""
    payload = _payload(body)
    if not isinstance(payload, dict):
        return _pagerduty_invalid(["Event object is not JSON"])
    problems = pagerduty_problems(payload) + pagerduty_payload_problems(payload.get("payload"))
    if problems:
        return _pagerduty_invalid(problems)
    return _json_answer(202, {"status": "success", "message": "Change event processed"})


def pagerduty_problems(payload: dict[str, Any]) -> list[str]:
    problems = []
    if len(str(payload.get("routing_key", ""))) != 32:
        problems.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    if len(str(payload.get("dedup_key", ""))) > 255:
        problems.append("'dedup_key' is longer than 255 characters")
    if len(json.dumps(payload).encode()) > 512 * 1024:
        problems.append("the event is larger than 512 KB")
    return problems


def pagerduty_payload_problems(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["'payload' is missing"]
    problems = []
    if not event.get("summary") or len(event["summary"]) > 1024:
        problems.append("'payload.summary' is missing or longer than 1024 characters")
    if not event.get("source"):
        problems.append("'payload.source' is missing")
    return problems


def _pagerduty_invalid(errors: list[str]) -> Answer:
    return _json_answer(
        400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
    )


def _payload(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _json_answer(status: int, document: dict[str, Any]) -> Answer:
    return Answer(status, json.dumps(document).encode(), {"Content-Type": "application/json"})


# ---------------------------------------------------------------------------- events to send

AT = datetime(2026, 11, 27, 3, 20, tzinfo=UTC).timestamp()
"""A fixed clock for the sample events: 2026-11-27 03:20 UTC."""
SINCE = datetime(2026, 11, 27, 3, 12, tzinfo=UTC).timestamp()
ACME_WEB = Subject("check", "acme-web")
ACME_SLA = Subject("sla", "acme-website", name="ACME website", customer="acme")
LINK = "https://sla.example.com/status/acme"


def sample_events(error: str = "connection refused") -> dict[str, Event]:
    """One event of each kind, as the evaluator would decide them at `AT`."""
    agents = (
        AgentView("eu-1", "down", error),
        AgentView("us-1", "down", error),
        AgentView("ap-1", "down", error),
    )
    down = Down("n-down", AT, ACME_WEB, SINCE, error, agents, link=LINK)
    resolved = Resolved("n-resolved", AT, ACME_WEB, SINCE, 424.0, error, link=LINK)
    return {
        "down": down,
        "reminder": Reminder("n-reminder", AT, ACME_WEB, SINCE - 3600, error, agents, link=LINK),
        "resolved": resolved,
        "no_data": NoData("n-no-data", AT, ACME_WEB, SINCE, ("eu-1", "us-1"), 30.0, LINK),
        "agent_silent": AgentSilent("n-silent", AT, "eu-1", SINCE, ("acme-web", "acme-db")),
        "flapping": Flapping("n-flap", AT, ACME_WEB, 6, 600.0, "down", SINCE, error, LINK),
        "flapping_ended": FlappingEnded(
            "n-flap-end", AT, ACME_WEB, "up", AT - 600, SINCE - 900, None, LINK
        ),
        "burn_rate": BurnRate(
            "n-burn",
            AT,
            ACME_SLA,
            "page",
            (BurnWindow(3600.0, 300.0, 14.4, 15.2, 20.1),),
            99.9,
            "2026-11",
            2592.0,
            985.0,
            LINK,
        ),
        "objective_breached": ObjectiveBreached(
            "n-breach", AT, ACME_SLA, "2026-11", 99.85, 99.9, 3720.0, 2592.0, 10.0, LINK
        ),
        "grouped": Grouped("n-storm", AT, (down, resolved), LINK),
        "digest": Digest(
            "n-digest",
            AT,
            "2026-W47",
            datetime(2026, 11, 16, tzinfo=UTC).timestamp(),
            datetime(2026, 11, 23, tzinfo=UTC).timestamp(),
            (
                DigestSla(
                    "acme-website",
                    "ACME website",
                    99.9,
                    "2026-11",
                    99.95,
                    99.97,
                    2592.0,
                    2470.0,
                    0.0,
                    "acme",
                    (
                        DigestIncident(
                            SINCE - 6 * 86_400,
                            SINCE - 6 * 86_400 + 120,
                            120.0,
                            ("acme-web",),
                            error,
                        ),
                    ),
                    period_verdict="on_track",
                    period_measured_s=20 * 86_400 + 3 * 3600,
                    period_projected_availability=99.99,
                    period_complete=False,
                    week_measured_s=7 * 86_400,
                ),
            ),
            LINK,
        ),
        "test": Test("n-test", AT, "ops-chat"),
    }


def storm(count: int, error: str = "connection refused") -> Grouped:
    """`count` checks going DOWN at once."""
    changes = tuple(
        Down(f"n-{i}", AT, Subject("check", f"check-{i:03d}"), SINCE, error) for i in range(count)
    )
    return Grouped("n-storm", AT, changes, LINK)


def big_digest(count: int) -> Digest:
    slas = tuple(
        DigestSla(
            f"sla-{i:03d}",
            f"Customer {i} website",
            99.9,
            "2026-11",
            99.5,
            99.8,
            2592.0,
            -100.0,
            10.0,
            f"c{i}",
            tuple(
                DigestIncident(
                    SINCE - k * 3600, SINCE - k * 3600 + 60, 60.0, (f"check-{i}",), "timeout " * 40
                )
                for k in range(5)
            ),
        )
        for i in range(count)
    )
    return Digest("n-big-digest", AT, "2026-W47", AT - 7 * 86_400, AT, slas, LINK)
