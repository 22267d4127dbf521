"""How an answer is judged, Retry-After read, and the next attempt timed. Pure parts of delivery;
the real HTTP round trips are in tests/integration/test_alert_channels.py."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from slawatch.collector.alerts.delivery import (
    MAX_RETRY_AFTER_S,
    DeliveryResult,
    judge,
    parse_retry_after,
    retry_delay,
)

NOW = datetime(2026, 11, 27, 3, 20, tzinfo=UTC).timestamp()


def http_date(ts: float) -> str:
    return format_datetime(datetime.fromtimestamp(ts, UTC), usegmt=True)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-5", 0.0),
        (http_date(NOW + 30), 30.0),
        (http_date(NOW - 30), 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("Mon, 99 Foo 2026 99:99:99 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_delivered(status: int) -> None:
    assert judge(status, {}, b"ok", NOW) == DeliveryResult("delivered", status)


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_busy_or_broken_services_are_retried(status: int) -> None:
    result = judge(status, {}, b"oops", NOW)
    assert result.outcome == "retry"
    assert result.error == f"HTTP {status}: oops"


@pytest.mark.parametrize("status", [301, 302, 400, 401, 403, 404, 410, 413, 422])
def test_refusals_are_rejected(status: int) -> None:
    assert judge(status, {}, b"", NOW).outcome == "rejected"


def test_retry_after_header_in_seconds_and_as_a_date_on_the_servers_clock() -> None:
    assert judge(429, {"Retry-After": "12"}, b"", NOW).retry_after == 12.0
    server_now = NOW - 3600  # the service's clock is an hour behind ours
    headers = {"Date": http_date(server_now), "Retry-After": http_date(server_now + 45)}
    assert judge(503, headers, b"", NOW).retry_after == 45.0


def test_telegram_and_discord_say_how_long_to_wait_in_the_body() -> None:
    telegram = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 34",
        "parameters": {"retry_after": 34},
    }
    result = judge(429, {}, json.dumps(telegram).encode(), NOW)
    assert result.retry_after == 34.0
    assert result.error == "HTTP 429: Too Many Requests: retry after 34"
    discord = {"message": "You are being rate limited.", "retry_after": 0.75, "global": False}
    assert judge(429, {}, json.dumps(discord).encode(), NOW).retry_after == 0.75


def test_the_header_wins_over_the_body() -> None:
    body = json.dumps({"retry_after": 99}).encode()
    assert judge(429, {"Retry-After": "3"}, body, NOW).retry_after == 3.0


def test_service_explanations_are_kept_short_and_on_one_line() -> None:
    google = {"error": {"code": 404, "message": "Requested entity was not found."}}
    assert judge(404, {}, json.dumps(google).encode(), NOW).error == (
        "HTTP 404: Requested entity was not found."
    )
    assert judge(404, {}, b"channel_not_found", NOW).error == "HTTP 404: channel_not_found"
    assert judge(500, {}, b"", NOW).error == "HTTP 500"
    long = judge(500, {}, b"<html>\n" + b"x" * 10_000, NOW).error
    assert long is not None and len(long) <= 310 and "\n" not in long


def test_retry_delay_honours_retry_after_up_to_an_hour() -> None:
    assert retry_delay(DeliveryResult("retry", 429, 7.0), attempts=1) == 7.0
    huge = DeliveryResult("retry", 429, 10 * 86_400.0)
    assert retry_delay(huge, attempts=1) == MAX_RETRY_AFTER_S


def test_retry_delay_backs_off_exponentially_with_jitter_and_a_cap() -> None:
    failed = DeliveryResult("retry", 500)
    lows = [retry_delay(failed, n, rng=lambda: 0.0) for n in range(1, 12)]
    highs = [retry_delay(failed, n, rng=lambda: 1.0) for n in range(1, 12)]
    assert lows[0] == 1.0 and highs[0] == 2.0
    assert highs[1] == 4.0 and highs[2] == 8.0
    assert all(b >= a for a, b in itertools.pairwise(highs))
    assert max(highs) == 300.0
    assert all(low == high / 2 for low, high in zip(lows, highs, strict=True))


def test_rejected_messages_wait_longer_for_a_human() -> None:
    rejected = DeliveryResult("rejected", 404)
    retried = DeliveryResult("retry", 500)
    assert retry_delay(rejected, 1, rng=lambda: 1.0) == 60.0
    assert retry_delay(rejected, 50, rng=lambda: 1.0) == 3600.0
    assert retry_delay(rejected, 1, rng=lambda: 1.0) > retry_delay(retried, 1, rng=lambda: 1.0)
