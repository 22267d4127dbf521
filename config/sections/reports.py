"""`reports:` — how reports and e-mail reach people: the SMTP server that mail leaves through,
used by `email` alert channels (and by reports sent to customers)."""

from __future__ import annotations

from typing import Any

from slawatch.config.keys import Key, Table
from slawatch.config.reader import KeyPath, Reader
from slawatch.config.schema import ReportsConfig, SmtpSettings
from slawatch.config.values import (
    BOOLEAN,
    DURATION,
    EMAIL_ADDRESS,
    HOST,
    MAPPING,
    PORT,
    SECRET_TEXT,
    TEXT,
)

SMTPS_PORT = 465
SUBMISSION_PORT = 587

SMTP = Table(
    (
        Key("host", HOST, "The SMTP server.", required=True, example="smtp.acme.example"),
        Key(
            "port",
            PORT,
            "Its port.",
            default_doc=f"{SMTPS_PORT} with `tls`, else {SUBMISSION_PORT}",
            example="25",
        ),
        Key(
            "starttls",
            BOOLEAN,
            "Upgrade the connection with STARTTLS before anything is sent; the server must offer "
            "it. `false` only for a relay on the same host or network (port 25).",
            default_doc="`true`, unless `tls`",
            example="false",
        ),
        Key(
            "tls",
            BOOLEAN,
            f"TLS from the first byte (SMTPS, port {SMTPS_PORT}) instead of STARTTLS.",
            default=False,
        ),
        Key(
            "username",
            TEXT,
            "Log in as this user (with `password`); the certificate is always verified first.",
            example="slawatch@acme.example",
        ),
        Key(
            "password", SECRET_TEXT, "The user's password.", secret=True, example="${SMTP_PASSWORD}"
        ),
        Key(
            "from",
            EMAIL_ADDRESS,
            "The sender of every message: an address, or `Name <address>`.",
            required=True,
            example='"slawatch <slawatch@acme.example>"',
        ),
    )
)
TABLE = Table(
    (
        Key(
            "delay",
            DURATION,
            "How long after a period ends its reports are sent to customers "
            "(`collector.customers[].report_to`) and its evidence bundle is made and kept: "
            "time for late samples to arrive.",
            default="1h",
        ),
        Key(
            "smtp",
            MAPPING,
            "The SMTP server that mail leaves through: `email` alert channels, and reports sent "
            "to customers.",
            table=SMTP,
        ),
    )
)
KEY = Key("reports", MAPPING, "How reports and e-mail reach people.", table=TABLE)


def read(reader: Reader, value: Any) -> ReportsConfig:
    path: KeyPath = ("reports",)
    data = reader.table(value, path, TABLE)
    smtp = data.get("smtp")
    return ReportsConfig(
        smtp=None if smtp is None else read_smtp(reader, smtp, (*path, "smtp")),
        delay=reader.take(data, TABLE.key("delay"), path),
    )


def read_smtp(reader: Reader, value: Any, path: KeyPath) -> SmtpSettings:
    data = reader.table(value, path, SMTP)
    key = SMTP.key
    tls = reader.take(data, key("tls"), path)
    if tls is True and data.get("starttls") is True:
        reader.fail((*path, "starttls"), "cannot go with tls: the connection is TLS from the start")
    username = reader.take(data, key("username"), path)
    password = reader.take(data, key("password"), path)
    if username is not None and data.get("password") is None:
        reader.fail((*path, "password"), "is required with username")
    if password is not None and data.get("username") is None:
        reader.fail((*path, "username"), "is required with password")
    return SmtpSettings(
        host=reader.take(data, key("host"), path),
        sender=reader.take(data, key("from"), path),
        port=reader.take(
            data, key("port"), path, default=SMTPS_PORT if tls is True else SUBMISSION_PORT
        ),
        starttls=reader.take(data, key("starttls"), path, default=tls is not True),
        tls=tls is True,
        username=username,
        password=password,
    )
