"""E-mail through the SMTP server of `reports.smtp`: one message per notification to the
channel's `to`, its subject the one-line summary, with a plain-text and an HTML part.

The message is rendered once and stored as RFC 5322 bytes without `From` and `To`; each attempt
adds them as the config has them now and hands the message to the SMTP transport
(`delivery.send_mail`: STARTTLS or TLS as configured, the certificate verified, then AUTH). Its
`Message-ID` is made of the notification's id, so the copy sent again after a crash between the
server's 250 and the commit is the same message to clients that deduplicate.
`Auto-Submitted: auto-generated` keeps vacation responders from answering (RFC 3834).
"""

from __future__ import annotations

import email.policy
import email.utils
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from html import escape

import aiohttp

from slawatch.collector.alerts.delivery import (
    ChannelError,
    DeliveryResult,
    RenderedMessage,
    send_mail,
)
from slawatch.collector.alerts.events import Event
from slawatch.collector.alerts.formats import format_instant
from slawatch.collector.alerts.layout import (
    TONE_COLORS,
    Message,
    clip,
    fit_lines,
    one_line,
    plain_text,
)
from slawatch.collector.alerts.text import compose
from slawatch.config.keys import Key, Table
from slawatch.config.registry import ChannelSpec
from slawatch.config.schema import Channel, SmtpSettings
from slawatch.config.values import EMAIL_ADDRESSES

SUBJECT_CHARS = 250
TEXT_CHARS = 100_000
"""Room for a storm of hundreds of changes; an inbox is not a phone notification."""
CONTENT_TYPE = "message/rfc822"
MESSAGE_ID_DOMAIN = "slawatch"


def render(event: Event, channel: Channel) -> RenderedMessage:
    message = compose(event)
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["Subject"] = clip(one_line(message.summary), SUBJECT_CHARS)
    mail["Date"] = email.utils.format_datetime(datetime.fromtimestamp(event.at, UTC))
    mail["Message-ID"] = f"<{event.id}@{MESSAGE_ID_DOMAIN}>"
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Slawatch-Event"] = event.kind
    mail.set_content(plain_text(message, TEXT_CHARS), cte="quoted-printable")
    mail.add_alternative(html(message), subtype="html", cte="quoted-printable")
    mail.set_boundary(f"slawatch-{event.id}")  # the same bytes however often it is rendered
    return RenderedMessage(
        channel.id, event.id, event.kind, mail.as_bytes(), {"Content-Type": CONTENT_TYPE}
    )


def html(message: Message) -> str:
    """A small page that reads alike in every mail client: inline styles, no image, no script."""
    color = f"#{TONE_COLORS[message.tone]:06x}"
    rows = "".join(
        f'<tr><th align="left" valign="top" style="padding:2px 12px 2px 0">{escape(f.label)}'
        f'</th><td style="padding:2px 0">{_lines(f.value)}</td></tr>'
        for f in message.facts
    )
    items = fit_lines(message.lines, TEXT_CHARS)
    listed = "".join(f"<li>{escape(line)}</li>" for line in items)
    link = (
        f'<p><a href="{escape(message.link, quote=True)}">Open in slawatch</a></p>'
        if message.link
        else ""
    )
    return (
        '<!doctype html><html><body style="font-family:sans-serif;font-size:14px">'
        f'<p style="border-left:4px solid {color};padding-left:8px;font-weight:bold">'
        f"{escape(message.summary)}</p>"
        + (f"<table>{rows}</table>" if rows else "")
        + (f"<ul>{listed}</ul>" if listed else "")
        + link
        + f'<p style="color:#667085;font-size:12px">slawatch · {format_instant(message.at)}</p>'
        "</body></html>"
    )


def _lines(text: str) -> str:
    return "<br>".join(escape(line) for line in text.split("\n"))


async def send(
    session: aiohttp.ClientSession,
    channel: Channel,
    message: RenderedMessage,
    *,
    timeout: float,
    clock: Callable[[], float] = time.time,
) -> DeliveryResult:
    """Send the stored message from `reports.smtp.from` to the channel's `to`, as configured now."""
    smtp = channel.settings.get("smtp")
    recipients = channel.settings.get("to")
    if not isinstance(smtp, SmtpSettings) or not recipients:
        raise ChannelError(f"channel {channel.id!r} (email) has no reports.smtp or no to")
    mail = BytesParser(policy=email.policy.SMTP).parsebytes(message.body)
    mail["From"] = smtp.sender
    mail["To"] = ", ".join(recipients)
    return await send_mail(smtp, message, mail, timeout=timeout)


CHANNEL = ChannelSpec(
    name="email",
    doc="E-mail, the one-line summary as its subject, with a plain-text and an HTML part, sent "
    "through the SMTP server of `reports.smtp`.",
    keys=Table(
        (
            Key(
                "to",
                EMAIL_ADDRESSES,
                "Who gets the messages.",
                required=True,
                example="[oncall@acme.example, ACME Ops <ops@acme.example>]",
            ),
        )
    ),
    render=render,
    send=send,
    uses=(("reports", "smtp"),),
)
