"""The e-mail channel against a real SMTP server on 127.0.0.1 (aiosmtpd, tests/smtp_server.py):
STARTTLS or TLS with a certificate of the test's CA, AUTH, the message as a mail client shows it,
and every kind of refusal judged as the outbox needs it (retry, or rejected for a human)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog

from slawatch.collector.alerts import channels
from slawatch.collector.alerts.delivery import DeliveryResult, RenderedMessage
from slawatch.collector.alerts.events import Event
from slawatch.config.loader import ConfigError, parse_config
from slawatch.config.schema import Channel, Secret, SmtpSettings
from tests.chat_services import sample_events, storm
from tests.smtp_server import SmtpServer, smtp_server
from tests.targets import (  # noqa: F401 - the fixtures are registered by importing them
    LocalCa,
    local_ca_fixture,
    trusted_ca_fixture,
)

PASSWORD = "smtp-password-SECRET-0123456789"
SENDER = "slawatch <slawatch@acme.example>"
TO = ("oncall@acme.example", "ACME Ops <ops@acme.example>")


def settings(server: SmtpServer, **overrides: Any) -> SmtpSettings:
    fields: dict[str, Any] = {"host": "127.0.0.1", "sender": SENDER, "port": server.port}
    return SmtpSettings(**(fields | overrides))


def mail_channel(smtp: SmtpSettings, to: tuple[str, ...] = TO) -> Channel:
    return Channel("oncall-mail", "email", {"to": to, "smtp": smtp})


async def deliver(
    channel: Channel, event: Event | None = None, timeout: float = 5.0
) -> tuple[RenderedMessage, DeliveryResult]:
    message = channels.render(event or sample_events()["down"], channel)
    async with aiohttp.ClientSession() as session:
        return message, await channels.deliver(session, channel, message, timeout=timeout)


@pytest.fixture
def submission(trusted_ca: LocalCa) -> Iterator[SmtpServer]:
    """A submission server as providers run them: STARTTLS required, then AUTH."""
    with smtp_server(users={"slawatch": PASSWORD}, starttls=trusted_ca.server_context()) as server:
        yield server


def logged_in(server: SmtpServer, **overrides: Any) -> Channel:
    return mail_channel(
        settings(server, username="slawatch", password=Secret(PASSWORD), **overrides)
    )


# ---------------------------------------------------------------------------------- delivered


async def test_a_down_over_starttls_with_auth(submission: SmtpServer) -> None:
    _, result = await deliver(logged_in(submission))
    assert (result.outcome, result.status, result.error) == ("delivered", 250, None)
    (received,) = submission.messages
    assert received.user == "slawatch"
    assert received.sender == "slawatch@acme.example"
    assert received.recipients == ["oncall@acme.example", "ops@acme.example"]
    mail = received.mail
    assert mail["Subject"] == "DOWN acme-web — 3/3 agents: connection refused — since 03:12 UTC"
    assert mail["From"] == SENDER
    assert mail["To"] == "oncall@acme.example, ACME Ops <ops@acme.example>"
    assert mail["Message-ID"] == "<n-down@slawatch>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Date"] == "Fri, 27 Nov 2026 03:20:00 +0000"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    body = text.get_content()
    assert body.startswith("DOWN acme-web — 3/3 agents: connection refused — since 03:12 UTC\n")
    assert "Since: 2026-11-27 03:12:00 UTC" in body
    assert "Open in slawatch: https://sla.example.com/status/acme" in body
    page = html.get_content()
    assert '<a href="https://sla.example.com/status/acme">Open in slawatch</a>' in page
    assert "<th" in page and "eu-1: DOWN (connection refused)" in page


async def test_tls_from_the_first_byte(trusted_ca: LocalCa) -> None:
    with smtp_server(tls=trusted_ca.server_context()) as server:
        _, result = await deliver(mail_channel(settings(server, tls=True, starttls=False)))
    assert result.delivered, result
    assert len(server.messages) == 1


async def test_a_plain_relay_without_starttls() -> None:
    with smtp_server() as server:
        _, result = await deliver(mail_channel(settings(server, starttls=False)))
    assert result.delivered, result


async def test_a_retry_is_the_same_message(submission: SmtpServer) -> None:
    channel = logged_in(submission)
    message = channels.render(sample_events()["resolved"], channel)
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            assert (await channels.deliver(session, channel, message)).delivered
    first, second = submission.messages
    assert first.mail["Message-ID"] == second.mail["Message-ID"] == "<n-resolved@slawatch>"
    assert first.data == second.data


async def test_the_config_of_now_is_used_at_each_attempt(submission: SmtpServer) -> None:
    channel = logged_in(submission)
    message = channels.render(sample_events()["down"], channel)
    moved = mail_channel(channel.settings["smtp"], to=("new-oncall@acme.example",))
    async with aiohttp.ClientSession() as session:
        assert (await channels.deliver(session, moved, message)).delivered
    assert submission.messages[0].recipients == ["new-oncall@acme.example"]
    assert submission.messages[0].mail["To"] == "new-oncall@acme.example"


async def test_a_storm_of_200_is_one_message_with_every_change() -> None:
    with smtp_server() as server:
        _, result = await deliver(mail_channel(settings(server, starttls=False)), storm(200))
    assert result.delivered, result
    body = server.messages[0].mail.get_body(("plain",))
    assert body is not None
    assert body.get_content().count("• DOWN check-") == 200


async def test_some_recipients_refused_is_delivered_to_the_others() -> None:
    with smtp_server() as server:
        server.unknown.add("oncall@acme.example")
        _, result = await deliver(mail_channel(settings(server, starttls=False)))
    assert result.outcome == "delivered"
    assert result.error == "refused: oncall@acme.example (550 5.1.1 no such user here)"
    assert server.messages[0].recipients == ["ops@acme.example"]


# ------------------------------------------------------------------------------------ refused


async def test_every_recipient_refused_is_rejected() -> None:
    with smtp_server() as server:
        server.unknown |= {"oncall@acme.example", "ops@acme.example"}
        _, result = await deliver(mail_channel(settings(server, starttls=False)))
    assert (result.outcome, result.status) == ("rejected", 550)
    assert result.error == "every recipient refused: 550 5.1.1 no such user here"


async def test_a_temporary_failure_is_retried() -> None:
    with smtp_server() as server:
        server.data_answers.append("451 4.3.0 try again later")
        _, result = await deliver(mail_channel(settings(server, starttls=False)))
        assert (result.outcome, result.status) == ("retry", 451)
        assert result.error == "451 4.3.0 try again later"
        _, again = await deliver(mail_channel(settings(server, starttls=False)))
    assert again.delivered


async def test_a_wrong_password_is_rejected_without_showing_it(submission: SmtpServer) -> None:
    channel = mail_channel(
        settings(submission, username="slawatch", password=Secret("wrong-" + PASSWORD))
    )
    with structlog.testing.capture_logs() as logs:
        _, result = await deliver(channel)
    assert (result.outcome, result.status) == ("rejected", 535)
    assert (result.error or "").startswith("authentication failed: 535 ")
    assert PASSWORD not in repr(result) + repr(logs) + repr(channel)
    assert logs[0]["event"] == "alert_delivery_failed" and logs[0]["status"] == 535
    assert submission.messages == []


async def test_a_server_without_starttls_is_rejected_not_sent_in_clear() -> None:
    with smtp_server() as server:
        _, result = await deliver(mail_channel(settings(server)))
    assert result.outcome == "rejected"
    assert "STARTTLS" in (result.error or "")
    assert server.messages == []


async def test_a_certificate_nobody_trusts_is_retried(local_ca: LocalCa) -> None:
    with smtp_server(starttls=local_ca.server_context()) as server:
        _, result = await deliver(mail_channel(settings(server)))
    assert (result.outcome, result.error) == ("retry", "TLS failed: CERTIFICATE_VERIFY_FAILED")
    assert server.messages == []


async def test_nobody_listening_is_retried() -> None:
    with socket.socket() as bound:  # bound, not listening: refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        _, result = await deliver(mail_channel(SmtpSettings("127.0.0.1", SENDER, port=port)))
    assert (result.outcome, result.error) == ("retry", "cannot connect: connection refused")


async def test_a_server_that_never_greets_is_retried_after_the_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        channel = mail_channel(SmtpSettings("127.0.0.1", SENDER, port=port))
        _, result = await deliver(channel, timeout=0.3)
    assert (result.outcome, result.error) == ("retry", "no answer within 0.3s")


# ------------------------------------------------------------------------------------ config

SMTP_YAML = """
reports:
  smtp: {host: smtp.acme.example, username: slawatch, password: "${SMTP_PASSWORD}",
         from: "slawatch <slawatch@acme.example>"}
"""
CHANNEL_YAML = """
alerts:
  channels:
    - {id: oncall-mail, type: email, to: [oncall@acme.example, "ACME Ops <ops@acme.example>"]}
"""


def load(text: str, process: str = "collector") -> Any:
    return parse_config(
        "collector: {}\n" + text,
        base_dir=Path("/cfg"),
        process=process,
        environ={"SMTP_PASSWORD": PASSWORD},
    )


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(text, "check")
    return [f"{p.path}: {p.message}" for p in caught.value.problems]


def test_an_email_channel_gets_reports_smtp() -> None:
    config = load(SMTP_YAML + CHANNEL_YAML)
    smtp = config.reports.smtp
    assert smtp == SmtpSettings(
        "smtp.acme.example", "slawatch <slawatch@acme.example>", 587, True, False, "slawatch",
        Secret(PASSWORD),
    )  # fmt: skip
    (channel,) = config.alerts.channels
    assert channel.settings == {"to": TO, "smtp": smtp}
    assert PASSWORD not in repr(config)


def test_an_email_channel_without_reports_smtp_is_a_problem() -> None:
    assert problems(CHANNEL_YAML) == ["alerts.channels[0].type: email channels need reports.smtp"]


def test_tls_means_port_465_and_no_starttls() -> None:
    config = load("reports:\n  smtp: {host: h.example, tls: true, from: a@h.example}\n")
    assert (config.reports.smtp.port, config.reports.smtp.tls) == (465, True)
    assert config.reports.smtp.starttls is False


def test_bad_smtp_settings_are_named() -> None:
    found = problems(
        """
reports:
  smtp: {tls: true, starttls: true, password: "${SMTP_PASSWORD}", from: "nobody", prot: 25}
alerts:
  channels:
    - {id: m, type: email, to: ["ops@acme.example\\nBcc: all@acme.example"]}
    - {id: n, type: email}
"""
    )
    assert found == [
        "reports.smtp.from: must be an e-mail address like ops@acme.example",
        "reports.smtp.host: is required",
        "reports.smtp.prot: unknown key (did you mean 'port'?)",
        "reports.smtp.starttls: cannot go with tls: the connection is TLS from the start",
        "reports.smtp.username: is required with password",
        "alerts.channels[0].to: must be an e-mail address like ops@acme.example",
        "alerts.channels[1].to: is required for an email channel",
    ]
    assert all(PASSWORD not in line for line in found)


def test_an_agent_reads_neither_reports_nor_email_channels(tmp_path: Path) -> None:
    """An agent host needs none of the collector's secrets: an unset SMTP password is fine."""
    config = parse_config(
        "agent: {id: eu-1, collector: 'http://127.0.0.1:8480', token: agent-token-0123456789}\n"
        + SMTP_YAML
        + CHANNEL_YAML,
        base_dir=tmp_path,
        process="agent",
        environ={},
    )
    assert config.alerts.channels[0].settings == {}
