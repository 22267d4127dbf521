"""`GET /api/v1/agent/checks` (CONTRACT §5): the collector's `checks:` that select the calling
agent, for agents whose own file has none.

A check selects an agent by `agents: [ids]` and `labels: {name: value}` (every label must be
the agent's). The agent's labels are those it sends in the `X-Slawatch-Labels` header (its
`agent.labels`, as a JSON object), overridden by its `collector.agents[].labels`: the center
has the last word. Each check goes out as the file wrote it (variables replaced), without its
selectors, so the agent reads it with the same loader as a local file.

The answer's `version` is a digest of the checks, also its strong `ETag`; an agent polling with
`If-None-Match` gets 304 and no body while nothing changed. Answers are kept per (config,
agent, labels): a poll that changes nothing costs a dict lookup, not a serialisation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Annotated, Any, TypedDict

import orjson
from aiohttp import web

from slawatch.collector.app import CONFIG
from slawatch.collector.errors import ApiError
from slawatch.collector.jsonschema import Schema
from slawatch.collector.routing import Reply, Route, add_routes, caller, error, header_param
from slawatch.config.contract import LABELS_HEADER
from slawatch.config.schema import Check, Config
from slawatch.config.values import parse_labels

PATH = "/api/v1/agent/checks"
SELECTORS = ("agents", "labels")
"""Keys of a check that say who runs it: the collector's business, not sent to agents."""
MAX_CACHED_ANSWERS = 10_000


class CheckCatalog:
    """The answers for one config, by (agent, labels)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._answers: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[bytes, str]] = {}

    def answer(self, agent_id: str, labels: Mapping[str, str]) -> tuple[bytes, str]:
        """The JSON body and its version for this agent holding these labels."""
        key = (agent_id, tuple(sorted(labels.items())))
        found = self._answers.get(key)
        if found is None:
            found = self._build(agent_id, labels)
            if len(self._answers) >= MAX_CACHED_ANSWERS:
                self._answers.clear()
            self._answers[key] = found
        return found

    def _build(self, agent_id: str, labels: Mapping[str, str]) -> tuple[bytes, str]:
        checks = [
            agent_check(check) for check in self.config.checks if check.runs_on(agent_id, labels)
        ]
        canonical = orjson.dumps(checks, default=str, option=orjson.OPT_SORT_KEYS)
        version = hashlib.sha256(canonical).hexdigest()[:20]
        body = b'{"checks":' + canonical + b',"version":"' + version.encode() + b'"}'
        return body, version


def agent_check(check: Check) -> dict[str, Any]:
    """The check as an agent reads it: its source without the selectors."""
    source = check.source if check.source is not None else {"id": check.id}
    return {key: value for key, value in source.items() if key not in SELECTORS}


CATALOG = web.AppKey("check_catalog", dict[str, CheckCatalog])
"""Holds the catalog of the config in force under "current" (rebuilt when the config changes)."""


def setup(app: web.Application) -> None:
    app[CATALOG] = {}
    add_routes(app, ROUTES)


def catalog(app: web.Application) -> CheckCatalog:
    holder = app[CATALOG]
    current = holder.get("current")
    if current is None or current.config is not app[CONFIG]:
        current = holder["current"] = CheckCatalog(app[CONFIG])
    return current


async def agent_checks(request: web.Request) -> web.Response:
    """The calling agent's checks; 304 when `If-None-Match` names their version."""
    app = request.app
    principal = caller(request)
    labels = {**_sent_labels(request), **_central_labels(app[CONFIG], principal.id)}
    body, version = catalog(app).answer(principal.id, labels)
    etag = f'"{version}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if _matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)


def _sent_labels(request: web.Request) -> dict[str, str]:
    text = request.headers.get(LABELS_HEADER)
    if not text:
        return {}
    try:
        return parse_labels(orjson.loads(text))
    except (orjson.JSONDecodeError, ValueError) as error:
        raise ApiError(
            400, f"{LABELS_HEADER} must be a JSON object of label names to strings: {error}"
        ) from None


def _central_labels(config: Config, agent_id: str) -> Mapping[str, str]:
    settings = config.collector
    if settings is None:
        return {}
    credential = next((a for a in settings.agents if a.id == agent_id), None)
    return credential.labels if credential is not None else {}


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


# ---------------------------------------------------------------------------------------- routes


class AgentChecks(TypedDict):
    checks: Annotated[
        list[dict[str, Any]],
        Schema(
            description="the checks as `checks:` of a config file writes them, without "
            "`agents` and `labels`"
        ),
    ]
    version: Annotated[str, Schema(description="also the answer's strong ETag")]


ROUTES = (
    Route(
        "GET",
        PATH,
        agent_checks,
        "The calling agent's central checks (agent token)",
        scopes=("agent",),
        description="The collector's `checks:` selecting this agent by `agents` and `labels`. "
        "Send `If-None-Match` with the last ETag: 304 while nothing changed.",
        parameters=(
            header_param(
                LABELS_HEADER,
                "the agent's labels as a JSON object (its `agent.labels`); "
                "`collector.agents[].labels` override them",
            ),
            header_param("If-None-Match", "the ETag of the last answer"),
        ),
        replies={
            200: Reply("The checks", AgentChecks),
            304: Reply("Unchanged since the version in If-None-Match"),
            400: error("A malformed labels header"),
        },
    ),
)
