"""Reload without restart (CONTRACT §5): SIGHUP or `POST /api/v1/reload` (admin) re-read the
collector's file.

A new file is validated whole first: one problem and nothing changes (the problems are logged,
and answered to the API with their key paths, never a secret's value), the old config keeps
running and `slawatch_config_last_reload_successful` says 0. A valid one replaces, at once and
between two requests: the SLAs, customers and tokens (the authenticator's table), the checks
(agents get them at their next poll), the alert channels and rules (`AlertService.reload`:
notifications waiting for a channel that is gone are given up with that reason, not dropped).
A request under way finishes with the config it began with. What a running process cannot
change (where it listens, its database) keeps its old value until a restart, and the answer
says so.

Prometheus' own names for the metrics: `slawatch_config_last_reload_successful` and
`slawatch_config_last_reload_success_timestamp_seconds`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

import structlog
from aiohttp import web
from prometheus_client import Gauge

from slawatch.collector.alerts.service import SERVICE
from slawatch.collector.app import AUTH, CONFIG, CONFIG_LISTENERS, METRICS, replace_state
from slawatch.collector.errors import ApiError
from slawatch.collector.jsonschema import INLINE, Schema
from slawatch.collector.reports import metrics as sla_metrics
from slawatch.collector.routing import Reply, Route, add_routes, error
from slawatch.config.loader import load_config
from slawatch.config.reader import ConfigError
from slawatch.config.schema import CollectorConfig, Config

log = structlog.get_logger()

PATH = "/api/v1/reload"
RESTART_KEYS = ("listen", "database", "max_connections")
"""Keys of `collector:` a running process keeps until it restarts."""


class ReloadRefused(Exception):
    def __init__(self, error: ConfigError) -> None:
        super().__init__(error.render())
        self.error = error


@dataclass(frozen=True, slots=True)
class Changes:
    """What a reload changed, by section: ids added, removed and changed."""

    sections: Mapping[str, Mapping[str, list[str]]]
    needs_restart: tuple[str, ...]
    notifications_given_up: int

    def to_json(self) -> dict[str, Any]:
        return {
            "reloaded": True,
            "changed": {name: dict(diff) for name, diff in self.sections.items()},
            "needs_restart": list(self.needs_restart),
            "notifications_given_up": self.notifications_given_up,
        }


class Reloader:
    def __init__(self, app: web.Application, load: Callable[[], Config]) -> None:
        self.app = app
        self.load = load
        registry = app[METRICS].registry
        self.successful = Gauge(
            "slawatch_config_last_reload_successful",
            "1 if the last reload of the config file succeeded (or none was asked), else 0.",
            registry=registry,
        )
        self.success_time = Gauge(
            "slawatch_config_last_reload_success_timestamp_seconds",
            "When the config was last loaded successfully (at start or on reload).",
            registry=registry,
        )
        self.successful.set(1)
        self.success_time.set(time.time())
        self._lock = asyncio.Lock()

    async def reload(self) -> Changes:
        """Re-read the file and apply it; ReloadRefused (logged, metric 0) if it is invalid."""
        async with self._lock:
            try:
                fresh = await asyncio.to_thread(self.load)
            except ConfigError as error:
                self.successful.set(0)
                log.error(
                    "reload_refused",
                    file=error.source,
                    problems=[problem.render(error.source) for problem in error.problems],
                    hint="the old config keeps running",
                )
                raise ReloadRefused(error) from None
            changes = await self._apply(fresh)
            self.successful.set(1)
            self.success_time.set(time.time())
            log.info("reloaded", **changes.to_json())
            return changes

    async def reload_logged(self) -> None:
        """For SIGHUP: the outcome is in the log and the metrics."""
        try:
            await self.reload()
        except ReloadRefused:
            pass
        except Exception:
            self.successful.set(0)
            log.exception("reload_failed")

    async def _apply(self, fresh: Config) -> Changes:
        app = self.app
        old = app[CONFIG]
        assert old.collector is not None and fresh.collector is not None
        needs_restart = tuple(
            f"collector.{name}"
            for name in RESTART_KEYS
            if getattr(fresh.collector, name) != getattr(old.collector, name)
        )
        settings = dataclasses.replace(
            fresh.collector, **{name: getattr(old.collector, name) for name in RESTART_KEYS}
        )
        config = dataclasses.replace(fresh, collector=settings)
        service = app.get(SERVICE)
        if service is not None and not service.enabled and config.alerts.channels:
            needs_restart += ("alerts.channels",)
        sections = _differences(old, config)
        replace_state(app, CONFIG, config)
        app[AUTH].update(settings)
        for listener in app[CONFIG_LISTENERS]:
            await listener(app, config)
        sla_metrics.invalidate(app)
        given_up = await service.reload(config) if service is not None else 0
        return Changes(sections, needs_restart, given_up)


def _differences(old: Config, new: Config) -> dict[str, dict[str, list[str]]]:
    assert old.collector is not None and new.collector is not None
    pairs: dict[str, tuple[Iterable[Any], Iterable[Any]]] = {
        "checks": (old.checks, new.checks),
        "slas": (old.slas, new.slas),
        "customers": (old.collector.customers, new.collector.customers),
        "agents": (old.collector.agents, new.collector.agents),
        "channels": (old.alerts.channels, new.alerts.channels),
    }
    sections = {name: _diff(before, after) for name, (before, after) in pairs.items()}
    rules = _rules_diff(old, new)
    if rules:
        sections["rules"] = rules
    if _settings(old.collector) != _settings(new.collector):
        sections["collector"] = {"added": [], "removed": [], "changed": ["collector"]}
    return {name: diff for name, diff in sections.items() if any(diff.values())}


def _diff(before: Iterable[Any], after: Iterable[Any]) -> dict[str, list[str]]:
    return _diff_named({item.id: item for item in before}, {item.id: item for item in after})


def _rules_diff(old: Config, new: Config) -> dict[str, list[str]]:
    def named(config: Config) -> dict[str, Any]:
        return {rule.id or f"rules[{i}]": rule for i, rule in enumerate(config.alerts.rules)}

    diff = _diff_named(named(old), named(new))
    if old.alerts.digest != new.alerts.digest and "digest" not in diff["changed"]:
        diff["changed"].append("digest")
    return diff


def _diff_named(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[str]]:
    return {
        "added": [i for i in new if i not in old],
        "removed": [i for i in old if i not in new],
        "changed": [i for i in new if i in old and old[i] != new[i]],
    }


def _settings(settings: CollectorConfig) -> CollectorConfig:
    return dataclasses.replace(settings, agents=(), customers=())


# ---------------------------------------------------------------------------------------- routes

RELOADER = web.AppKey("reloader", Reloader)


def setup(app: web.Application, load: Callable[[], Config] | None = None) -> None:
    """Add the route and the metrics; `load` reads the file anew (default: the file the
    config was read from, for `slawatch collector`)."""
    path = app[CONFIG].path

    def from_file() -> Config:
        return load_config(path, process="collector")

    app[RELOADER] = Reloader(app, load or from_file)
    add_routes(app, ROUTES)


async def reload_route(request: web.Request) -> web.Response:
    app = request.app
    try:
        changes = await app[RELOADER].reload()
    except ReloadRefused as refused:
        raise ApiError(
            422,
            f"the new file is refused, the old config keeps running: "
            f"{len(refused.error.problems)} problem(s)",
            [
                {"path": problem.path, "line": problem.line, "error": problem.message}
                for problem in refused.error.problems
            ],
        ) from None
    return web.json_response(changes.to_json())


class SectionChanges(TypedDict, total=False):
    added: list[str]
    removed: list[str]
    changed: list[str]


class ReloadResult(TypedDict, total=False):
    reloaded: bool
    changed: Annotated[
        dict[str, Annotated[SectionChanges, INLINE]],
        Schema(
            description="by section (checks, slas, customers, agents, channels, rules, "
            "collector): the ids added, removed, changed; sections without change are left out"
        ),
    ]
    needs_restart: Annotated[
        list[str],
        Schema(
            description="keys changed in the file that keep their old value until the "
            "collector restarts (collector.listen…)"
        ),
    ]
    notifications_given_up: Annotated[
        int,
        Schema(
            description="notifications waiting for a removed channel, given up with that "
            "reason (see /api/v1/notifications)"
        ),
    ]


ROUTES = (
    Route(
        "POST",
        PATH,
        reload_route,
        "Re-read the collector's config file (admin), as SIGHUP does",
        scopes=("admin",),
        description="A file that fails validation is refused whole (422, its problems with "
        "their key paths) and the old config keeps running.",
        replies={
            200: Reply("Reloaded: what changed, by section", Annotated[ReloadResult, INLINE]),
            422: error("The new file is invalid; nothing changed"),
        },
    ),
)
