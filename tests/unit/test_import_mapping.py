"""How `slawatch import` maps what the end-to-end tests do not show line by line (issue 18,
"Import"): Gatus conditions one by one, Go durations, ids from names, Uptime Kuma's DNS monitors
and its timeouts."""

from __future__ import annotations

from typing import Any

import pytest

from slawatch.importers import gatus, kuma
from slawatch.importers.model import check_id, seconds_text


@pytest.mark.parametrize(
    ("condition", "expect"),
    [
        ("[STATUS] == 200", {"status": [200]}),
        ("[STATUS]==204", {"status": [204]}),
        ("[STATUS] < 300", {"status": ["100-299"]}),
        ("[STATUS] <= 399", {"status": ["100-399"]}),
        ("[STATUS] >= 500", {"status": ["500-599"]}),
        ("[STATUS] == any(200, 301, 302)", {"status": [200, 301, 302]}),
        ("[RESPONSE_TIME] < 750", {"status": ["100-599"], "max_latency": "750ms"}),
        ("[BODY] == pat(*healthy*)", {"status": ["100-599"], "body_contains": "healthy"}),
        ("[BODY] == pat(OK*)", {"status": ["100-599"], "body_regex": r"\AOK[\s\S]*\Z"}),
        (
            "[BODY] == pat(*a*b*)",
            {"status": ["100-599"], "body_regex": r"\A[\s\S]*a[\s\S]*b[\s\S]*\Z"},
        ),
        ('[BODY] == "1.0 (ok)"', {"status": ["100-599"], "body_regex": r"\A1\.0\ \(ok\)\Z"}),
        ("[CERTIFICATE_EXPIRATION] > 720h", {"status": ["100-599"], "tls_min_days": 30}),
        ("[CERTIFICATE_EXPIRATION] > 36h", {"status": ["100-599"], "tls_min_days": 2}),
        ("[CONNECTED] == true", {"status": ["100-599"]}),
    ],
)
def test_gatus_conditions_that_map(condition: str, expect: dict[str, Any]) -> None:
    notes: list[str] = []
    assert gatus._expect([condition], True, notes) == expect
    assert notes == []


@pytest.mark.parametrize(
    ("condition", "why"),
    [
        ("[BODY].status == UP", "slawatch does not read JSON paths of the body"),
        ("len([BODY].items) > 0", "slawatch has no expect for it"),
        ("[IP] == 127.0.0.1", "slawatch has no expect for it"),
        ("[STATUS] != 500", "a status comparison slawatch cannot express"),
        ("[BODY] == has(x)", "slawatch has no expect for it"),
        ("[RESPONSE_TIME] < fast", "'fast' is not a number of milliseconds"),
        ("whatever", "not a comparison slawatch reads"),
    ],
)
def test_gatus_conditions_that_do_not_map_are_named(condition: str, why: str) -> None:
    notes: list[str] = []
    assert gatus._expect([condition], True, notes) == {"status": ["100-599"]}
    assert notes == [f"condition `{condition}` not imported: {why}"]


def test_a_tcp_endpoint_gets_no_status() -> None:
    notes: list[str] = []
    assert gatus._expect(["[CONNECTED] == true", "[RESPONSE_TIME] < 50"], False, notes) == {
        "max_latency": "50ms"
    }


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1m30s", 90.0), ("500ms", 0.5), ("2h", 7200.0), (45, 45.0), ("1.5s", 1.5), (None, 60.0)],
)
def test_gatus_durations(value: Any, seconds: float) -> None:
    assert gatus.parse_duration(value, 60.0, "interval") == seconds


def test_a_bad_gatus_duration_skips_the_endpoint_saying_why() -> None:
    with pytest.raises(gatus.Unmapped, match="interval '5 minutes' is not a duration"):
        gatus.endpoint_check(
            {"name": "x", "url": "https://x.example", "interval": "5 minutes"}, set(), "x"
        )


def test_ids_from_names() -> None:
    taken: set[str] = set()
    assert check_id("API: status (v2)", taken, "kuma-1") == "api-status-v2"
    assert check_id("API: status (v2)", taken, "kuma-1") == "api-status-v2-2"
    assert check_id("Café Ünïcode ✓", taken, "kuma-3") == "cafe-unicode"
    assert check_id("✓✓✓", taken, "kuma-4") == "kuma-4"
    assert check_id("_private", taken, "kuma-5") == "private"
    assert check_id("x" * 300, taken, "kuma-6") == "x" * 124


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(60, "1m"), (90, "90s"), (3600, "1h"), (86400, "1d"), (0.25, "250ms"), (0, "0s")],
)
def test_durations_as_slawatch_writes_them(seconds: float, text: str) -> None:
    assert seconds_text(seconds) == text


def monitor(**fields: Any) -> dict[str, Any]:
    return {"id": 9, "name": "m", "active": 1, "interval": 60, "maxretries": 0, **fields}


def test_kuma_dns_monitor_becomes_a_dns_check() -> None:
    check = kuma.monitor_check(
        monitor(
            type="dns",
            hostname="acme.example",
            dns_resolve_server="9.9.9.9",
            dns_resolve_type="MX",
            port=53,
        ),
        set(),
        "m",
    )
    assert check.data == {
        "id": "m", "url": "dns://9.9.9.9:53/acme.example?type=MX", "interval": "1m", "timeout": "48s",
    }  # fmt: skip


def test_kuma_timeout_never_exceeds_the_interval_and_defaults_to_80_percent() -> None:
    given = kuma.monitor_check(
        monitor(type="port", hostname="h", port=22, interval=20, timeout=48), set(), "m"
    )
    assert given.data["timeout"] == "20s"
    default = kuma.monitor_check(
        monitor(type="port", hostname="h", port=22, interval=30, timeout=0), set(), "m"
    )
    assert default.data["timeout"] == "24s"


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"type": "http", "url": "https://x", "upside_down": 1}, "upside-down mode"),
        ({"type": "push"}, "monitor type 'push' has no slawatch check type"),
        ({"type": "http", "url": "ftp://x"}, "is not http(s)"),
        ({"type": "http", "url": "https://x", "headers": "not json"}, "its headers are not JSON"),
        ({"type": "dns", "hostname": "x", "dns_resolve_type": "CAA"}, "DNS record type CAA"),
        ({"type": "port", "hostname": "x"}, "no hostname or port"),
    ],
)
def test_kuma_monitors_that_do_not_map_say_why(fields: dict[str, Any], why: str) -> None:
    with pytest.raises(kuma.Unmapped, match=why.replace("(", r"\(").replace(")", r"\)")):
        kuma.monitor_check(monitor(**fields), set(), "m")
