"""`agent:` — who this agent is, where it pushes, and where it keeps samples until then."""

from __future__ import annotations

from typing import Any

from slawatch.config import contract
from slawatch.config.keys import Key, Table
from slawatch.config.reader import INVALID, KeyPath, Reader
from slawatch.config.schema import AgentConfig, CollectorConfig, HostPort
from slawatch.config.values import (
    COUNT,
    FILE_PATH,
    HOST_PORT,
    HTTP_URLS,
    ID,
    LABELS,
    MAPPING,
    POSITIVE_DURATION,
    SECRET_TEXT,
    format_duration,
)

DEFAULT_CONCURRENCY = 256
DEFAULT_CHECKS_POLL_S = 30.0

TABLE = Table(
    (
        Key(
            "id",
            ID,
            "This agent's id; the collector knows it in `collector.agents`.",
            required=True,
            example="eu-1",
        ),
        Key(
            "collector",
            HTTP_URLS,
            "The collector's base URL, or a list of several collectors' URLs: the agent pushes "
            "to (and takes its checks from) the first that answers, and fails over in order.",
            default_doc="http://<collector.listen> when the file has a collector section",
            example="https://slawatch.example.net",
        ),
        Key(
            "token",
            SECRET_TEXT,
            "The bearer token it pushes with (`collector.agents[].token` on the collector). "
            "Required by `slawatch agent`; `slawatch up` makes one for its local agent.",
            secret=True,
            example="${EU1_TOKEN}",
        ),
        Key(
            "spool",
            FILE_PATH,
            "SQLite file where samples wait until the collector has committed them.",
            default_doc="data/<id>-spool.db beside the config file",
            example="/var/lib/slawatch/eu-1-spool.db",
        ),
        Key(
            "spool_max_samples",
            COUNT,
            "Past this many waiting samples the oldest are dropped, counted and logged.",
            default=contract.DEFAULT_SPOOL_MAX_SAMPLES,
            example="5000000",
        ),
        Key(
            "spool_max_age",
            POSITIVE_DURATION,
            "Waiting samples older than this are dropped, counted and logged.",
            default=format_duration(contract.DEFAULT_SPOOL_MAX_AGE_S),
            example="7d",
        ),
        Key(
            "metrics_listen",
            HOST_PORT,
            "Where the agent serves its Prometheus `/metrics`.",
            default_doc="not served",
            example="127.0.0.1:9480",
        ),
        Key(
            "labels",
            LABELS,
            f"Sent with every batch; the collector keeps the latest per agent (at most "
            f"{contract.MAX_LABELS}, names and values of at most {contract.MAX_LABEL_LENGTH} "
            "characters).",
            default={},
            example="{region: eu}",
        ),
        Key(
            "concurrency",
            COUNT,
            "Probes in flight at once, at most.",
            default=DEFAULT_CONCURRENCY,
            example="64",
        ),
        Key(
            "checks_poll",
            POSITIVE_DURATION,
            "How often the agent asks the collector for its central checks (`checks:` of the "
            "collector's file selected for it); the last answer is kept beside the spool.",
            default=format_duration(DEFAULT_CHECKS_POLL_S),
            example="1m",
        ),
    )
)
KEY = Key(
    "agent",
    MAPPING,
    "An agent: probes the checks, spools samples on disk, pushes them to the collector. "
    "Required by `slawatch agent`; optional for `slawatch up`, which runs a local one.",
    table=TABLE,
)


def read(reader: Reader, value: Any, collector: CollectorConfig | None) -> AgentConfig:
    path: KeyPath = ("agent",)
    data = reader.table(value, path, TABLE)
    values = reader.values(data, path, TABLE)
    agent_id = values["id"]
    listen = collector.listen if collector else None
    urls = values["collector"]
    if urls is None and isinstance(listen, HostPort):
        urls = (f"http://{listen}",)
    if urls is None:
        reader.fail((*path, "collector"), "is required: the collector's URL")
    collectors = tuple(url.rstrip("/") for url in urls) if isinstance(urls, tuple) else ()
    spool = reader.resolve_path(values["spool"])
    if spool is None and agent_id is not INVALID:
        spool = reader.base_dir / "data" / f"{agent_id}-spool.db"
    return AgentConfig(
        id=agent_id,
        collector=collectors[0] if collectors else "",
        token=values["token"],
        spool=spool,
        spool_max_samples=values["spool_max_samples"],
        spool_max_age=values["spool_max_age"],
        metrics_listen=values["metrics_listen"],
        labels=values["labels"],
        concurrency=values["concurrency"],
        collectors=collectors,
        checks_poll=values["checks_poll"],
    )
