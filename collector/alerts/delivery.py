"""One attempt at sending one rendered notification, and what its answer means: an HTTP POST
(`send`, most services), or a message handed to an SMTP server (`send_mail`, e-mail).

A channel module renders an event once into a `RenderedMessage` (body bytes, headers, ids), which
the outbox stores and hands to `send` at each attempt. The channel's URL is *not* part of the
stored message: it is a secret (a chat webhook URL is a credential, Telegram's holds the bot
token), so it stays in the config and is read at each attempt. That also means a revoked webhook
fixed in the config delivers the messages still waiting for it.

How answers are judged (the outbox decides when to try again, see `retry_delay`):
- 2xx: `delivered`.
- 408, 425, 429, 5xx, a network error or a timeout: `retry`; the service's `Retry-After`
  (seconds or HTTP date, or Telegram's and Discord's `retry_after` in the JSON body) is honoured.
- Any other answer (3xx, other 4xx): `rejected`. The service refused this request: its URL was
  revoked, the bot lost its rights, the payload was refused. The outbox keeps retrying it,
  slower, until `alerts.max_age` (CONTRACT §3.2: retried until 2xx, given up after max_age), so
  an operator who fixes the config in time loses nothing; the outcome lets it log and count
  the message as needing a human rather than as a passing outage.
Redirects are not followed: a redirect would carry a signed body to an address nobody configured.

Nothing here logs or returns a URL or secret: errors are described from their type, and service
answers are scrubbed of the channel's secrets before they are kept.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import random
import re
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
import aiosmtplib
import structlog

from slawatch.collector.alerts.layout import clip, one_line
from slawatch.collector.alerts.signing import signature_headers
from slawatch.config.schema import Channel, Secret, SmtpSettings
from slawatch.config.values import email_address_only

log = structlog.get_logger()

Outcome = Literal["delivered", "retry", "rejected"]

DEFAULT_TIMEOUT_S = 10.0
RESPONSE_READ_LIMIT = 64 * 1024
"""How much of a service's answer is read to explain a failure."""
ERROR_CHARS = 300
RETRY_STATUSES = frozenset({408, 425, 429})
MAX_RETRY_AFTER_S = 3600.0
"""A longer Retry-After is taken as an hour: past that the service is broken, not busy, and the
outbox's max_age decides when to give up."""
BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 300.0
REJECTED_BACKOFF_BASE_S = 60.0
REJECTED_BACKOFF_CAP_S = 3600.0
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
SECRET_PIECE_CHARS = 16
"""Pieces of a secret this long are scrubbed on their own; real tokens are longer."""
_SECRET_SEPARATORS = re.compile(r"[/?&=:#]")


class ChannelError(ValueError):
    """A channel that cannot be used as configured; the message names the channel and key only."""


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """What the outbox stores: rendered once, sent as the same bytes at every attempt."""

    channel: str
    """The channel's id in the config."""
    notification_id: str
    event: str
    """The event's kind: down, resolved…"""
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    """Headers of the rendering (Content-Type); signatures are added per attempt."""

    @classmethod
    def of_json(
        cls, channel: Channel, notification_id: str, event: str, payload: Mapping[str, Any]
    ) -> RenderedMessage:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return cls(
            channel=channel.id,
            notification_id=notification_id,
            event=event,
            body=body.encode(),
            headers={"Content-Type": JSON_CONTENT_TYPE},
        )


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    outcome: Outcome
    status: int | None = None
    """The HTTP status (the SMTP reply code for e-mail); None when no answer came (network
    error, timeout)."""
    retry_after: float | None = None
    """Seconds the service asked to wait, when it said so."""
    error: str | None = None
    """What went wrong, fit for logs and the notifications API: never a URL or secret."""

    @property
    def delivered(self) -> bool:
        return self.outcome == "delivered"


def channel_secret(channel: Channel, key: str) -> Secret:
    value = channel.settings.get(key)
    if not isinstance(value, Secret) or not value.value:
        raise ChannelError(f"channel {channel.id!r} ({channel.type}) has no {key}")
    return value


async def send(
    session: aiohttp.ClientSession,
    url: Secret,
    message: RenderedMessage,
    *,
    signing_secret: Secret | None = None,
    redact: Iterable[Secret] = (),
    timeout: float = DEFAULT_TIMEOUT_S,
    clock: Callable[[], float] = time.time,
) -> DeliveryResult:
    """POST `message` to `url` once; sign it when the channel has a `signing_secret`."""
    headers = dict(message.headers)
    if signing_secret is not None:
        headers |= signature_headers(signing_secret.value, message.body, clock())
    secrets = _secret_strings([url, *redact, *([signing_secret] if signing_secret else [])])
    try:
        async with session.post(
            url.value,
            data=message.body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
        ) as response:
            answer = await response.content.read(RESPONSE_READ_LIMIT)
            result = judge(response.status, response.headers, answer, clock())
    except (TimeoutError, aiohttp.ServerTimeoutError):
        result = DeliveryResult("retry", error=f"no answer within {timeout:g}s")
    except aiohttp.ClientError as exc:
        result = DeliveryResult("retry", error=describe_client_error(exc))
    except OSError as exc:
        result = DeliveryResult("retry", error=f"network error: {_strerror(exc)}")
    if result.error:
        result = DeliveryResult(
            result.outcome, result.status, result.retry_after, _scrub(result.error, secrets)
        )
    _log(message, result)
    return result


async def send_mail(
    smtp: SmtpSettings, message: RenderedMessage, mail: EmailMessage, *, timeout: float
) -> DeliveryResult:
    """Hand `mail` to the SMTP server once, to the addresses of its `To`, and judge the answer
    as an HTTP one is: accepted is `delivered`; a 4xx reply, a network error or a timeout is
    `retry`; a 5xx reply, failed authentication or a refused STARTTLS is `rejected`. A message
    the server took for some recipients and refused for others is delivered (sending it again
    would repeat it to the others); the refusals are said in `error`."""
    recipients = [address for _, address in email.utils.getaddresses(mail.get_all("To", []))]
    try:
        refused, _ = await aiosmtplib.send(
            mail,
            sender=email_address_only(smtp.sender),
            recipients=recipients,
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password.value if smtp.password else None,
            use_tls=smtp.tls,
            start_tls=smtp.starttls and not smtp.tls,
            timeout=timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        first = exc.recipients[0]
        result = DeliveryResult(
            "retry" if 400 <= first.code < 500 else "rejected",
            first.code,
            error=f"every recipient refused: {_smtp_reply(first.code, first.message)}",
        )
    except aiosmtplib.SMTPResponseException as exc:
        outcome: Outcome = "retry" if 400 <= exc.code < 500 else "rejected"
        what = (
            "authentication failed: " if isinstance(exc, aiosmtplib.SMTPAuthenticationError) else ""
        )
        result = DeliveryResult(outcome, exc.code, error=what + _smtp_reply(exc.code, exc.message))
    except (TimeoutError, aiosmtplib.SMTPTimeoutError):
        result = DeliveryResult("retry", error=f"no answer within {timeout:g}s")
    except aiosmtplib.SMTPConnectError as exc:
        cause = exc.__cause__
        said = _strerror(cause) if isinstance(cause, OSError) else one_line(exc.message)
        result = DeliveryResult("retry", error=f"cannot connect: {said}")
    except ssl.SSLError as exc:
        result = DeliveryResult("retry", error=f"TLS failed: {exc.reason or exc}")
    except (aiosmtplib.SMTPServerDisconnected, OSError) as exc:
        text = exc.message if isinstance(exc, aiosmtplib.SMTPException) else _strerror(exc)
        result = DeliveryResult(
            "retry", error=f"network error: {clip(one_line(text), ERROR_CHARS)}"
        )
    except aiosmtplib.SMTPException as exc:  # what the server lacks: STARTTLS, an AUTH method
        result = DeliveryResult("rejected", error=clip(one_line(exc.message), ERROR_CHARS))
    else:
        said = "; ".join(f"{to} ({_smtp_reply(r.code, r.message)})" for to, r in refused.items())
        error = f"refused: {clip(said, ERROR_CHARS)}" if said else None
        result = DeliveryResult("delivered", 250, error=error)
    if result.error:
        secrets = _secret_strings([smtp.password])
        result = replace(result, error=_scrub(result.error, secrets))
    _log(message, result)
    return result


def _smtp_reply(code: int, text: str) -> str:
    return f"{code} {clip(one_line(text), ERROR_CHARS)}"


def judge(status: int, headers: Mapping[str, str], answer: bytes, now: float) -> DeliveryResult:
    """The outcome of one HTTP answer (see the module's docstring)."""
    if 200 <= status <= 299:
        return DeliveryResult("delivered", status)
    outcome: Outcome = "retry" if status in RETRY_STATUSES or status >= 500 else "rejected"
    document = _json(answer)
    retry_after = parse_retry_after(headers.get("Retry-After"), _server_now(headers, now))
    if retry_after is None:
        retry_after = _body_retry_after(document)
    return DeliveryResult(outcome, status, retry_after, _describe_answer(status, answer, document))


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` value: delay-seconds or an HTTP date (RFC 9110)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = moment.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def retry_delay(
    result: DeliveryResult, attempts: int, rng: Callable[[], float] = random.random
) -> float:
    """Seconds before the next attempt after `attempts` failed ones (1 after the first).

    The service's own Retry-After wins (up to an hour); otherwise capped exponential backoff
    with full jitter, slower for a rejected message, which waits for a human to fix something.
    """
    if result.retry_after is not None:
        return min(result.retry_after, MAX_RETRY_AFTER_S)
    base, cap = (
        (REJECTED_BACKOFF_BASE_S, REJECTED_BACKOFF_CAP_S)
        if result.outcome == "rejected"
        else (BACKOFF_BASE_S, BACKOFF_CAP_S)
    )
    ceiling = min(cap, base * 2 ** max(0, min(attempts - 1, 30)))
    return ceiling / 2 + rng() * ceiling / 2


def describe_client_error(exc: aiohttp.ClientError) -> str:
    """A network failure in words, without the URL that aiohttp's own messages quote."""
    match exc:
        case aiohttp.ClientConnectorCertificateError():
            return "TLS certificate verification failed"
        case aiohttp.ClientConnectorSSLError() | aiohttp.ClientSSLError():
            return "TLS handshake failed"
        case aiohttp.ClientConnectorDNSError():
            return "DNS lookup failed"
        case aiohttp.ClientConnectorError():
            return f"cannot connect: {_strerror(exc.os_error)}"
        case aiohttp.ServerDisconnectedError():
            return "the server closed the connection without answering"
        case aiohttp.ClientPayloadError():
            return "the answer was cut short"
        case aiohttp.InvalidUrlClientError():
            return "the channel URL is not valid"
        case aiohttp.ClientOSError():
            return f"network error: {_strerror(exc)}"
    return f"network error ({type(exc).__name__})"


# ---------------------------------------------------------------------------------- helpers


def _server_now(headers: Mapping[str, str], fallback: float) -> float:
    """The service's clock from its Date header: an HTTP-date Retry-After is on that clock."""
    value = headers.get("Date")
    if value:
        try:
            return email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError, IndexError):
            pass
    return fallback


def _json(answer: bytes) -> Any:
    try:
        return json.loads(answer)
    except ValueError:
        return None


def _body_retry_after(document: Any) -> float | None:
    """Telegram: `{"parameters": {"retry_after": 34}}`; Discord: `{"retry_after": 1.5}`."""
    if not isinstance(document, dict):
        return None
    parameters = document.get("parameters")
    candidates = [parameters.get("retry_after") if isinstance(parameters, dict) else None]
    candidates.append(document.get("retry_after"))
    for value in candidates:
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            return max(0.0, float(value))
    return None


def _describe_answer(status: int, answer: bytes, document: Any) -> str:
    reason = _reason(document) if document is not None else None
    if reason is None:
        reason = answer.decode("utf-8", "replace")
    reason = clip(one_line(reason), ERROR_CHARS)
    return f"HTTP {status}: {reason}" if reason else f"HTTP {status}"


def _reason(document: Any) -> str | None:
    """The explanation services put in their JSON errors (Telegram, Discord, Google, Teams)."""
    if not isinstance(document, dict):
        return None
    errors = document.get("errors")
    listed = [e for e in errors if isinstance(e, str)] if isinstance(errors, list) else []
    for key in ("description", "message", "error"):
        value = document.get(key)
        if isinstance(value, str):
            return ": ".join([value, *listed])  # PagerDuty: "Event object is invalid", [why]
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            return value["message"]
    return json.dumps(document)[:ERROR_CHARS]


def _strerror(exc: OSError | None) -> str:
    if exc is None:
        return "unknown error"
    text = os.strerror(exc.errno) if exc.errno else type(exc).__name__
    return text[0].lower() + text[1:] if text else type(exc).__name__


def _secret_strings(secrets: Iterable[Secret | None]) -> list[str]:
    """Every string that would give a secret away, longest first: whole values, a URL's path and
    query, and their long pieces (a service may echo `/hooks/<key>`, a `key=` query value, or
    the part of a Telegram token after its colon). Scheme and host are not secret."""
    found: set[str] = set()
    for secret in secrets:
        if secret is None or not secret.value:
            continue
        found.add(secret.value)
        parts = urlsplit(secret.value)
        private = secret.value
        if parts.scheme and parts.netloc:
            found.update(p for p in (parts.path, parts.query) if len(p) > 1)
            private = f"{parts.path}?{parts.query}"
        found.update(p for p in _SECRET_SEPARATORS.split(private) if len(p) >= SECRET_PIECE_CHARS)
    return sorted(found, key=len, reverse=True)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _log(message: RenderedMessage, result: DeliveryResult) -> None:
    fields = {
        "channel": message.channel,
        "notification": message.notification_id,
        "kind": message.event,
        "status": result.status,
    }
    if result.delivered:
        log.info("alert_delivered", **fields)
    else:
        log.warning(
            "alert_delivery_failed",
            **fields,
            outcome=result.outcome,
            error=result.error,
            retry_after=result.retry_after,
        )
