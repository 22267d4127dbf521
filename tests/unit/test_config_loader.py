"""The config file of CONTRACT §2: every section read, every problem reported with its path."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slawatch.config.loader import ConfigError, load_config, parse_config
from slawatch.config.schema import (
    HttpTarget,
    OneOffMaintenance,
    RecurringMaintenance,
    StatusRange,
    TcpTarget,
    TokenDigest,
)
from slawatch.config.values import format_duration, parse_duration

EXAMPLES = Path(__file__).resolve().parents[2] / "config"
TOKENS = {
    "SLAWATCH_ADMIN_TOKEN": "admin-token-0123456789",
    "EU1_TOKEN": "eu1-token-0123456789",
    "ACME_TOKEN": "acme-token-0123456789",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/T000/B000/secretpart",
    "HOOK_SECRET": "hook-secret-0123456789",
    "TICKETS_HOOK_URL": "https://tickets.example/hook",
    "US1_TOKEN_SHA256": TokenDigest.of("us1-token-0123456789").sha256.hex(),
}


def parse(text: str, process: str = "up", environ: dict[str, str] | None = None, base=Path("/cfg")):
    return parse_config(text, base_dir=base, process=process, environ=environ or {})


def problems(text: str, process: str = "up", environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text, process, environ)
    return [f"{p.path}: {p.message}" for p in caught.value.problems]


MINIMAL = """
collector:
  listen: 127.0.0.1:8480
checks:
  - id: web
    url: https://example.test/health
"""


# ------------------------------------------------------------------------------ example files


def test_example_files_are_valid() -> None:
    up = load_config(EXAMPLES / "slawatch.yaml", process="up", environ={})
    assert [c.id for c in up.checks] == ["collector-health", "collector-port"]
    assert up.collector and up.collector.admin_token is None  # ${SLAWATCH_ADMIN_TOKEN:-}
    assert up.collector.database == (EXAMPLES.parent / "data" / "slawatch.db").resolve()

    collector = load_config(EXAMPLES / "collector.yaml", process="collector", environ=TOKENS)
    sla = collector.slas[0]
    assert (sla.timezone, sla.min_downtime, sla.latency.objective) == ("Europe/Paris", 60.0, 0.8)
    assert sla.maintenance[1] == RecurringMaintenance(
        "sunday", time(3, 0), 1800.0, "weekly patching"
    )
    assert collector.collector.agents[1].token == TokenDigest.of("us1-token-0123456789")
    assert collector.alerts.rules[1].slas == ("acme-website",)

    agent = load_config(EXAMPLES / "agent.yaml", process="agent", environ=TOKENS)
    assert agent.agent.token.value == TOKENS["EU1_TOKEN"]
    assert agent.agent.spool == EXAMPLES / "data" / "eu-1-spool.db"


def test_defaults_follow_the_contract() -> None:
    config = parse(
        MINIMAL
        + """
slas:
  - id: s
    checks: [web]
    objective: 99.9
"""
    )
    check, sla = config.checks[0], config.slas[0]
    assert (check.type, check.interval, check.timeout, check.quorum) == (
        "http",
        60.0,
        10.0,
        "majority",
    )
    assert check.no_data == 120.0
    assert isinstance(check.target, HttpTarget)
    assert check.target.expect.status == (StatusRange(200, 399),)
    assert (check.target.method, check.target.follow_redirects, check.target.tls_skip_verify) == (
        "GET",
        False,
        False,
    )
    assert (sla.require, sla.period, sla.timezone, sla.quorum) == (
        "all",
        "month",
        "UTC",
        "majority",
    )
    assert (sla.min_downtime, sla.unknown, sla.name, sla.customer) == (0.0, "exclude", "s", None)
    assert config.collector.max_sample_age == 45 * 86400
    assert config.collector.database == Path("/cfg/data/slawatch.db")


def test_raw_retention_covers_the_oldest_sample_accepted_by_default() -> None:
    config = parse("collector: {max_sample_age: 10d}\n")
    assert config.collector.retention.raw == 11 * 86400
    shorter = parse("collector: {retention: {raw: 35d}}\n")  # allowed; the collector warns
    assert shorter.collector.retention.raw == 35 * 86400


def test_timeout_defaults_to_the_interval_when_shorter() -> None:
    config = parse("checks:\n  - {id: fast, url: 'http://x.test', interval: 5s}\ncollector: {}\n")
    assert config.checks[0].timeout == 5.0


# ---------------------------------------------------------------------------------- env vars


def test_environment_variables_are_substituted_after_parsing() -> None:
    text = """
collector:
  admin_token: ${ADMIN}
  listen: ${LISTEN:-127.0.0.1:9999}
checks:
  - id: web
    url: ${URL}
    interval: ${INTERVAL:-15s}
"""
    config = parse(text, environ={"ADMIN": "a:b#c 'quoted' 0123456789", "URL": "http://x.test/"})
    assert config.collector.admin_token == TokenDigest.of("a:b#c 'quoted' 0123456789")
    assert str(config.collector.listen) == "127.0.0.1:9999"
    assert config.checks[0].interval == 15.0


def test_unset_variable_is_an_error_only_in_sections_the_process_reads() -> None:
    text = """
collector:
  admin_token: ${COLLECTOR_SECRET}
agent:
  id: eu-1
  collector: http://127.0.0.1:8480
  token: ${AGENT_TOKEN}
checks:
  - {id: web, url: "http://x.test"}
"""
    agent = parse(text, process="agent", environ={"AGENT_TOKEN": "t" * 20})
    assert agent.agent.token.value == "t" * 20
    assert problems(text, process="collector") == [
        "collector.admin_token: environment variable COLLECTOR_SECRET is not set"
    ]
    assert problems(text, process="agent") == [
        "agent.token: environment variable AGENT_TOKEN is not set"
    ]


def test_an_unset_variable_is_said_once_not_judged_as_its_own_text() -> None:
    text = """
agent:
  id: eu-1
  collector: ${HUB}
  token: ${TOK}
checks:
  - {id: web, url: "http://x.test"}
"""
    assert problems(text, process="agent") == [
        "agent.collector: environment variable HUB is not set",
        "agent.token: environment variable TOK is not set",
    ]  # not also "must be an http:// URL" nor "too short" for '${HUB}' and '${TOK}'


def test_dollar_dollar_escapes_a_literal_dollar() -> None:
    config = parse(MINIMAL.replace("/health", "/$${not_a_var}"))
    assert config.checks[0].target.url == "https://example.test/${not_a_var}"


# ---------------------------------------------------------------------------------- problems


def test_every_problem_is_reported_with_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        """collector:
  listen: nope
checks:
  - id: a
    url: ftp://x
    interval: 3x
  - id: a
    url: http://x.test
    intervall: 5s
slas:
  - id: s
    checks: [a, zz]
    objective: 120
    timezone: Mars/Base
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    rendered = caught.value.render().splitlines()
    assert rendered == [
        f"{path}:2: collector.listen: must be host:port, like 127.0.0.1:8480",
        f"{path}:5: checks[0].url: must be a URL of a check type: http://, https://, tcp://, tls://, dns:// or icmp://",
        f"{path}:6: checks[0].interval: must be a duration like 30s, 500ms, 5m, 1h or 2d",
        f"{path}:7: checks[1].id: duplicate check id 'a' (first at checks[0].id)",
        f"{path}:9: checks[1].intervall: unknown key (did you mean 'interval'?)",
        f"{path}:12: slas[0].checks[1]: unknown check 'zz'",
        f"{path}:13: slas[0].objective: must be between 0 and 100",
        f"{path}:14: slas[0].timezone: unknown timezone 'Mars/Base'",
    ]


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        (
            "checks:\n  - {id: no, url: 'http://x.test'}",
            'checks[0].id: must be a string id (quote it in YAML, like "no")',
        ),
        ("checks:\n  - {id: Web, url: 'http://x.test'}", "checks[0].id: 'Web' is not a valid id"),
        (
            "checks:\n  - {id: w, url: 'http://x.test', interval: 2d}",
            "checks[0].interval: must be between",
        ),
        (
            "checks:\n  - {id: w, url: 'http://x.test', interval: 30s, timeout: 1m}",
            "checks[0].timeout: must not exceed the interval (30s)",
        ),
        (
            "checks:\n  - {id: w, url: 'http://x.test', expect: {status: 700}}",
            "checks[0].expect.status: status codes must be between 100 and 599",
        ),
        (
            "checks:\n  - {id: w, url: 'http://x.test', expect: {body_regex: '('}}",
            "checks[0].expect.body_regex: is not a valid regular expression",
        ),
        ("checks:\n  - {id: w, host: db.test}", "checks[0].port: is required"),
        (
            "checks:\n  - {id: w, host: db.test, port: 5432, expect: {status: 200}}",
            "checks[0].expect.status: unknown key",
        ),
        (
            "checks:\n  - {id: w}",
            "checks[0]: needs a url (http://, https://, tcp://, tls://, dns:// or icmp://), a host (tcp) or a type (http, tcp, dns, icmp)",
        ),
        (
            "checks:\n  - {id: w, url: 'http://x.test', quorum: most}",
            "checks[0].quorum: must be any, majority, all or a number of agents",
        ),
        (
            "slas:\n  - {id: s, checks: [], objective: 99}",
            "slas[0].checks: must name at least one check",
        ),
        (
            "slas:\n  - {id: s, checks: [a], objective: 99, unknown: maybe}",
            "slas[0].unknown: must be one of exclude, up, down",
        ),
        (
            "slas:\n  - {id: s, checks: [a], objective: 99, credits: [{below: 99}]}",
            "slas[0].credits[0].percent: is required",
        ),
        (
            "slas:\n  - {id: s, checks: [a], objective: 99, maintenance: [{every: funday, at: '02:00', duration: 1h}]}",
            "slas[0].maintenance[0].every: must be one of monday",
        ),
        (
            "slas:\n  - {id: s, checks: [a], objective: 99, maintenance: [{every: day, at: '25:00', duration: 1h}]}",
            'slas[0].maintenance[0].at: must be a time of day like "02:00"',
        ),
        (
            "slas:\n  - {id: s, checks: [a], objective: 99, maintenance: [{start: 2026-11-08T04:00:00Z, end: 2026-11-08T02:00:00Z}]}",
            "slas[0].maintenance[0].end: must be after start",
        ),
        (
            "alerts:\n  channels: [{id: c, type: pager, url: 'https://x.test'}]",
            "alerts.channels[0].type: must be one of slack",
        ),
        (
            "alerts:\n  channels: [{id: c, type: telegram}]",
            "alerts.channels[0].bot_token: is required for a telegram channel",
        ),
        (
            "alerts:\n  rules: [{channels: [nope], checks: ['*']}]",
            "alerts.rules[0].channels[0]: unknown channel 'nope'",
        ),
        ("agent: {id: a1}", "agent.collector: is required: the collector's URL"),
        ("bogus: 1", "bogus: unknown key"),
        ("checks: {id: w}", "checks: must be a list"),
    ],
)
def test_problem_messages_name_the_key(snippet: str, expected: str) -> None:
    found = problems(snippet, process="report" if "collector" not in snippet else "up")
    found = [p for p in found if not p.startswith("collector: is required")]
    assert any(p.startswith(expected) for p in found), found


def test_duplicate_yaml_keys_are_refused() -> None:
    assert "checks[0].interval: duplicate key" in problems(
        "collector: {}\nchecks:\n  - id: w\n    url: http://x.test\n    interval: 5s\n    interval: 10s\n"
    )


def test_invalid_yaml_reports_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("collector:\n  listen: [unclosed\nchecks: []\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.render() == (
        f"{path}:3:7: collector.listen[0]: invalid YAML: expected ',' or ']', but got ':'"
        " (in the flow sequence that starts at line 2, column 11)"
    )


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file: No such file or directory"):
        load_config(tmp_path / "nope.yaml")


def test_processes_require_their_section() -> None:
    assert problems("checks: []", process="collector") == [
        "collector: is required by slawatch collector"
    ]
    assert problems("checks: []", process="agent") == ["agent: is required by slawatch agent"]


# ----------------------------------------------------------------------------------- secrets


def test_secret_values_never_appear_in_problems_or_reprs() -> None:
    secret_url = "notaurl-but-secret-XYZZY"
    text = f"""
collector:
  admin_token: same-token-0123456789-XYZZY
  customers:
    - {{id: acme, token: same-token-0123456789-XYZZY}}
alerts:
  channels:
    - {{id: c, type: slack, url: "{secret_url}"}}
"""
    with pytest.raises(ConfigError) as caught:
        parse(text)
    rendered = caught.value.render()
    assert "XYZZY" not in rendered
    assert "collector.customers[0].token: is the same token as collector.admin_token" in rendered
    assert "alerts.channels[0].url: must be an http:// or https:// URL" in rendered

    config = parse(
        "collector:\n  admin_token: admin-0123456789-XYZZY\nagent:\n  id: a\n  collector: http://c.test\n"
        "  token: agent-0123456789-XYZZY\nalerts:\n  channels:\n    - {id: c, type: webhook,"
        " url: 'https://h.test/XYZZY', secret: s-XYZZY}\n"
    )
    assert "XYZZY" not in repr(config)
    assert str(config.agent.token) == "***"


def test_tokens_may_be_given_as_sha256() -> None:
    digest = TokenDigest.of("agent-token-0123456789")
    config = parse(
        f"collector:\n  agents:\n    - {{id: eu-1, token_sha256: {digest.sha256.hex()}}}\n"
    )
    assert config.collector.agents[0].token == digest
    assert problems("collector:\n  agents:\n    - {id: eu-1, token_sha256: xyz}\n") == [
        "collector.agents[0].token_sha256: must be 64 hexadecimal digits"
    ]


# ------------------------------------------------------------------------------------ values


def test_checks_of_both_types_and_their_expectations() -> None:
    config = parse(
        """
collector: {}
checks:
  - id: web
    url: https://acme.test/health
    method: post
    headers: {X-Trace: 1}
    body: '{"ping": true}'
    follow_redirects: true
    expect: {status: [200, "3xx", "401-403"], body_contains: ok, max_latency: 2s, tls_min_days: 14}
  - id: db
    host: db.test
    port: "5432"
    tls: true
    send: "PING\\r\\n"
    expect: {banner_regex: "^\\\\+PONG"}
  - id: smtp
    url: tls://mail.test:465
"""
    )
    web, db, smtp = config.checks
    assert web.target.method == "POST" and web.target.headers == {"X-Trace": "1"}
    assert web.target.expect.status == (
        StatusRange(200, 200),
        StatusRange(300, 399),
        StatusRange(401, 403),
    )
    assert (web.target.expect.max_latency, web.target.expect.tls_min_days) == (2.0, 14.0)
    assert isinstance(db.target, TcpTarget) and db.type == "tcp"
    assert (db.target.port, db.target.tls, db.target.send) == (5432, True, "PING\r\n")
    assert db.target.expect.banner_regex == "^\\+PONG"
    assert (smtp.type, smtp.target.host, smtp.target.port, smtp.target.tls) == (
        "tcp",
        "mail.test",
        465,
        True,
    )


def test_maintenance_times_without_offset_are_in_the_sla_timezone() -> None:
    config = parse(
        """
collector: {}
slas:
  - id: s
    checks: [a]
    objective: 99.9
    timezone: Europe/Paris
    maintenance:
      - {start: 2026-11-08T02:00:00, end: 2026-11-08T04:00:00+00:00, reason: kernel}
      - {every: sunday, at: 02:30, duration: 2h}
"""
    )
    one_off, recurring = config.slas[0].maintenance
    assert one_off == OneOffMaintenance(
        start=datetime(2026, 11, 8, 1, 0, tzinfo=UTC).timestamp(),
        end=datetime(2026, 11, 8, 4, 0, tzinfo=UTC).timestamp(),
        reason="kernel",
    )
    assert recurring == RecurringMaintenance("sunday", time(2, 30), 7200.0, "")


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "f.yaml"
    path.write_text(
        "collector: {database: db/s.db}\nagent: {id: a1, token: tttttttttttttttttttt}\n",
        encoding="utf-8",
    )
    config = load_config(path, process="up")
    assert config.collector.database == tmp_path / "conf" / "db" / "s.db"
    assert config.agent.spool == tmp_path / "conf" / "data" / "a1-spool.db"
    assert config.agent.collector == "http://127.0.0.1:8480"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (30, 30.0),
        (0.5, 0.5),
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("2d", 172800.0),
        ("1h30m", 5400.0),
        ("45", 45.0),
        ("1.5s", 1.5),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "m5", "-5s", True, None, "5s3", "nan", "inf"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="must be a duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**9))
def test_format_duration_round_trips(milliseconds: int) -> None:
    seconds = milliseconds / 1000
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=1e-9)


# ------------------------------------------------------------------------------ provider


def test_provider_names_the_sender_of_reports_and_status_pages() -> None:
    named = parse(MINIMAL.replace("collector:\n", "collector:\n  provider: ' Example Hosting '\n"))
    assert named.collector.provider == "Example Hosting"
    assert named.collector.provider_name == "Example Hosting"
    from_url = parse(
        MINIMAL.replace("collector:\n", "collector:\n  public_url: https://sla.example.com:8443/\n")
    )
    assert from_url.collector.provider is None
    assert from_url.collector.provider_name == "sla.example.com"
    assert parse(MINIMAL).collector.provider_name == "slawatch"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("''", "collector.provider: must be a non-empty string"),
        ("'   '", "collector.provider: must be a non-empty string"),
        ("[Example]", "collector.provider: must be a non-empty string"),
        ("42", "collector.provider: must be a non-empty string"),
        ("x" * 101, "collector.provider: must be at most 100 characters"),
        ('"Example\\nHosting"', "collector.provider: must be one line of printable characters"),
    ],
)
def test_provider_must_be_a_short_line_of_text(value: str, expected: str) -> None:
    text = MINIMAL.replace("collector:\n", f"collector:\n  provider: {value}\n")
    assert any(p.startswith(expected) for p in problems(text)), problems(text)


def test_provider_of_100_characters_is_accepted() -> None:
    config = parse(MINIMAL.replace("collector:\n", f"collector:\n  provider: {'x' * 100}\n"))
    assert config.collector.provider == "x" * 100


# ------------------------------------------------------------ review findings: no crash, no leak

SHARED = """
collector:
  listen: ${COLLECTOR_LISTEN}
  database: ${COLLECTOR_DB}
  max_sample_age: ${MAX_AGE}
agent:
  id: eu-1
  collector: http://127.0.0.1:8480
  token: ${AGENT_TOKEN}
checks:
  - {id: web, url: "http://x.test"}
slas:
  - {id: s, checks: [web], objective: "${OBJECTIVE}"}
"""


def test_unset_variables_where_the_process_does_not_read_are_left_unparsed() -> None:
    config = parse(SHARED, process="agent", environ={"AGENT_TOKEN": "agent-token-0123456789"})
    assert config.agent.token.value == "agent-token-0123456789"
    assert problems(SHARED, process="report", environ={"OBJECTIVE": "99"}) == [
        "collector.database: environment variable COLLECTOR_DB is not set"
    ]


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        (
            "agent: {id: a1, collector: '127.0.0.1:8480', token: tttttttttttttttttttt}",
            "agent.collector: must be an http:// or https:// URL",
        ),
        (
            "agent: {id: a1, collector: 'http://[::1', token: tttttttttttttttttttt}",
            "agent.collector: must be an http:// or https:// URL with a valid host and port",
        ),
        (
            "collector: {agents: [{id: eu-1, token: aaaaaaaaaaaaaaaaaaaa}]}\nchecks:\n  - {id: w, url: 'http://x.test', agents: eu-1}",
            "checks[0].agents: must be a list of ids",
        ),
        (
            "checks:\n  - {id: w, url: 'tcp://[::1'}",
            "checks[0].url: must be tcp://host:port or tls://host:port",
        ),
        (
            "checks:\n  - {id: w, url: 'http://x.test', method: connect}",
            "checks[0].method: CONNECT opens a tunnel",
        ),
        (
            "checks:\n  - {id: w, url: 'http://x.test', headers: {'X Bad': v}}",
            "checks[0].headers.X Bad: is not a valid header name",
        ),
        (
            "checks:\n  - {id: w, url: 'http://x.test', headers: {X-Ok: \"a\\r\\nInjected: 1\"}}",
            "checks[0].headers.X-Ok: must not contain line breaks or NUL",
        ),
        (
            f"agent: {{id: a1, collector: 'http://c.test', labels: {{note: {'x' * 300}}}}}",
            "agent.labels.note: at most 256 characters",
        ),
        (
            "agent: {id: a1, collector: 'http://c.test', labels: {"
            + ", ".join(f"l{i}: v" for i in range(65))
            + "}}",
            "agent.labels: at most 64 labels",
        ),
    ],
)
def test_bad_values_are_problems_not_crashes(snippet: str, expected: str) -> None:
    found = problems(snippet, process="check")
    assert any(p.startswith(expected) for p in found), found


def test_the_files_own_agent_token_must_not_serve_another_principal() -> None:
    shared = "agent-or-customer-0123456789"
    text = f"""
collector:
  agents: [{{id: eu-1, token: {shared}}}]
  customers: [{{id: acme, token: other-token-0123456789}}]
agent: {{id: eu-1, token: {shared}}}
"""
    assert parse(text).agent.token.value == shared
    assert problems(
        text.replace("other-token-0123456789", shared).replace(
            "agents: [{id: eu-1, token: " + shared + "}]", "agents: []"
        )
    ) == ["agent.token: is the same token as collector.customers[0].token"]


def test_yaml_errors_do_not_quote_what_may_be_a_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        parse("collector:\n  admin_token: *S3cretTokenValue\n")
    assert "S3cretTokenValue" not in caught.value.render()
    assert "invalid YAML: found undefined alias" in caught.value.render()


def test_a_secret_may_contain_dollar_brace_once_substituted() -> None:
    config = parse(
        "collector:\n  admin_token: ${ADMIN}\n", environ={"ADMIN": "looks-like-${X}-0123456789"}
    )
    assert config.collector.admin_token == TokenDigest.of("looks-like-${X}-0123456789")


def test_a_time_of_day_may_come_from_the_environment() -> None:
    """It used to be read from the YAML source text, `${AT}` itself, and refused."""
    text = "alerts:\n  channels: []\n  digest: {channels: [], at: '${AT}'}\n"
    found = problems(text, process="check", environ={"AT": "07:45"})
    assert found == ["alerts.digest.channels: must name at least one channel"]
    config = parse(
        "collector: {}\nslas:\n  - {id: s, checks: [w], objective: 99, maintenance: "
        "[{every: day, at: '${AT}', duration: 1h}, {every: day, at: 02:30, duration: 1h}]}\n",
        environ={"AT": "07:45"},
    )
    assert [m.at for m in config.slas[0].maintenance] == [time(7, 45), time(2, 30)]
