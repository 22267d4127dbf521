"""A local SMTP server for the e-mail tests: aiosmtpd on 127.0.0.1, in its own thread as its
`Controller` runs it, recording every message it accepts.

It speaks like a real submission server where it matters: STARTTLS or TLS from the first byte
with a certificate of the test's CA, AUTH (PLAIN, LOGIN) only over TLS when it has users, and
refusals on demand: recipients it does not know (550), a temporary failure of DATA (451).

    with smtp_server(users={"slawatch": "pw"}, starttls=ca.server_context()) as server:
        ... reports.smtp: {host: 127.0.0.1, port: server.port, ...}
        server.messages[0].mail["Subject"]
"""

from __future__ import annotations

import email.policy
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support import free_port


@dataclass(frozen=True, slots=True)
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    user: str | None
    """Who logged in, if anybody."""

    @property
    def mail(self) -> EmailMessage:
        parsed = BytesParser(policy=email.policy.default).parsebytes(
            self.data.replace(b"\r\n", b"\n")  # as a mail client shows it
        )
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SmtpServer:
    port: int = 0
    users: dict[str, str] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)
    """Recipients refused with 550."""
    data_answers: list[str] = field(default_factory=list)
    """What the next DATA commands get instead of 250 ("451 4.3.0 try again later")."""
    messages: list[Received] = field(default_factory=list)
    on_message: Callable[[Received], None] | None = None
    """Called with each message accepted, before the server answers its DATA."""
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    # aiosmtpd's handler hooks

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.unknown:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_answers:
            return self.data_answers.pop(0)
        user = session.auth_data.login.decode() if session.authenticated else None
        received = Received(
            str(envelope.mail_from), list(envelope.rcpt_tos), bytes(envelope.content or b""), user
        )
        with self._arrived:
            self.messages.append(received)
            self._arrived.notify_all()
        if self.on_message is not None:
            self.on_message(received)
        return "250 2.0.0 queued"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            if self.users.get(user) == password:
                return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"{len(self.messages)} messages, not {count}")
        return self.messages


@contextmanager
def smtp_server(
    *,
    users: dict[str, str] | None = None,
    starttls: ssl.SSLContext | None = None,
    tls: ssl.SSLContext | None = None,
    port: int | None = None,
) -> Iterator[SmtpServer]:
    """A server that offers STARTTLS with `starttls`, or speaks TLS from the start with `tls`;
    with `users`, AUTH over TLS is required before any mail."""
    server = SmtpServer(port=port or free_port(), users=dict(users or {}))
    options: dict[str, Any] = {}
    if users:
        options |= {"authenticator": server.authenticate, "auth_required": True}
    if starttls is not None:
        options |= {"tls_context": starttls, "require_starttls": True}
    if tls is not None:
        options |= {"ssl_context": tls, "auth_require_tls": False}
    controller = Controller(server, hostname="127.0.0.1", port=server.port, **options)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
