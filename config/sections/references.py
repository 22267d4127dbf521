"""What one section says of another: ids that must exist, tokens that must not be shared."""

from __future__ import annotations

from slawatch.config.reader import KeyPath, Reader, render_path
from slawatch.config.schema import (
    AgentConfig,
    AlertsConfig,
    Check,
    CollectorConfig,
    Secret,
    Sla,
    TokenDigest,
)


def check(
    reader: Reader,
    *,
    collector: CollectorConfig | None,
    agent: AgentConfig | None,
    checks: tuple[Check, ...],
    slas: tuple[Sla, ...],
    alerts: AlertsConfig,
) -> None:
    check_ids = {c.id for c in checks}
    agent_ids = {a.id for a in collector.agents} if collector else set()
    customer_ids = {c.id for c in collector.customers} if collector else set()
    if collector:
        reader.unique_ids(
            ((("collector", "agents", i, "id"), a.id) for i, a in enumerate(collector.agents)),
            "agent",
        )
        reader.unique_ids(
            (
                (("collector", "customers", i, "id"), c.id)
                for i, c in enumerate(collector.customers)
            ),
            "customer",
        )
        tokens_unique(reader, collector, agent)
    for i, item in enumerate(checks):
        for j, agent_id in enumerate(item.agents if isinstance(item.agents, tuple) else ()):
            if agent_ids and agent_id not in agent_ids:
                reader.fail(("checks", i, "agents", j), f"unknown agent {agent_id!r}")
    for i, sla in enumerate(slas):
        if isinstance(sla.checks, tuple) and checks:
            for j, check_id in enumerate(sla.checks):
                if check_id not in check_ids:
                    reader.fail(("slas", i, "checks", j), f"unknown check {check_id!r}")
        if collector and isinstance(sla.customer, str) and sla.customer not in customer_ids:
            reader.fail(("slas", i, "customer"), f"unknown customer {sla.customer!r}")
    channel_ids = {c.id for c in alerts.channels}
    sla_ids = {s.id for s in slas}
    for i, rule in enumerate(alerts.rules):
        for j, channel_id in enumerate(rule.channels if isinstance(rule.channels, tuple) else ()):
            if channel_id not in channel_ids:
                reader.fail(
                    ("alerts", "rules", i, "channels", j), f"unknown channel {channel_id!r}"
                )
        for j, sla_id in enumerate(rule.slas if isinstance(rule.slas, tuple) else ()):
            if sla_id not in sla_ids:
                reader.fail(("alerts", "rules", i, "slas", j), f"unknown SLA {sla_id!r}")
    digest = alerts.digest
    for j, channel_id in enumerate(
        digest.channels if digest and isinstance(digest.channels, tuple) else ()
    ):
        if channel_id not in channel_ids:
            reader.fail(("alerts", "digest", "channels", j), f"unknown channel {channel_id!r}")
    if agent and agent.token and agent_ids and agent.id not in agent_ids:
        reader.fail(("agent", "id"), f"{agent.id!r} is not among collector.agents")


def tokens_unique(reader: Reader, collector: CollectorConfig, agent: AgentConfig | None) -> None:
    """One token serving two principals is refused: it would blur every scope. The file's own
    agent (`slawatch up` registers it) is the same principal as its `collector.agents` entry."""
    holders: list[tuple[KeyPath, TokenDigest | None]] = [
        (("collector", "admin_token"), collector.admin_token),
        (("collector", "metrics_token"), collector.metrics_token),
        *((("collector", "agents", i, "token"), a.token) for i, a in enumerate(collector.agents)),
        *(
            (("collector", "customers", i, "token"), c.token)
            for i, c in enumerate(collector.customers)
        ),
    ]
    if agent and isinstance(agent.token, Secret):
        own = TokenDigest.of(agent.token.value)
        if (agent.id, own) not in {(a.id, a.token) for a in collector.agents}:
            holders.append((("agent", "token"), own))
    seen: dict[bytes, KeyPath] = {}
    for path, digest in holders:
        if not isinstance(digest, TokenDigest):
            continue
        if digest.sha256 in seen:
            reader.fail(path, f"is the same token as {render_path(seen[digest.sha256])}")
        else:
            seen[digest.sha256] = path
