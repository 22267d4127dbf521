"""The registries hold the whole truth of check types and channels: each registered one is
documented and loadable, and a new one is one module plus one registry line (here a fake type
and a fake channel, registered in the test only) that the loader, `check-config`, the docs and
the agent's probe runner all pick up."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from slawatch import cli
from slawatch.agent import probes
from slawatch.agent.sample import ProbeResult
from slawatch.collector.alerts import channels
from slawatch.collector.alerts.delivery import DeliveryResult, RenderedMessage, channel_secret
from slawatch.config.keys import Key, Table
from slawatch.config.loader import ConfigError, load_config, parse_config
from slawatch.config.registry import ChannelSpec, CheckTypeSpec, channel_types, check_types
from slawatch.config.schema import Channel, Check, Secret
from slawatch.config.values import HOST, PORT, SECRET_TEXT, SECRET_URL, TEXT, choice
from tests.chat_services import sample_events
from tests.support import free_port
from tests.unit.test_docs import docs_script

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def environ_for(text: str) -> dict[str, str]:
    """A value for every `${VAR}` of an example: a URL where the name says so, else a token."""
    return {
        name: "https://hooks.example/T0/secret-part"
        if "URL" in name
        else f"{name.lower()}-0123456789"
        for name in ENV_REFERENCE.findall(text)
    }


def load(text: str, process: str = "check", tmp_path: Path = Path("/cfg")) -> Any:
    return parse_config(text, base_dir=tmp_path, process=process, environ=environ_for(text))


def problems(text: str, process: str = "check") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(text, process)
    return [f"{p.path}: {p.message}" for p in caught.value.problems]


# ------------------------------------------------------------------- what is registered


@pytest.mark.parametrize("name", list(check_types()))
def test_every_check_type_is_declared_whole_and_its_example_loads(name: str) -> None:
    spec = check_types()[name]
    assert spec.doc and spec.example and spec.probe
    for key in (*spec.keys, *spec.expect):
        assert key.doc, key.name
        key.default_value()  # every declared default is a valid value of its kind
    example = load("collector: {}\nchecks:\n" + textwrap.indent(spec.example, "  "))
    assert example.checks and {check.type for check in example.checks} == {name}


@pytest.mark.parametrize("name", list(check_types()))
def test_a_check_types_target_defaults_are_its_declared_defaults(name: str) -> None:
    """The dataclasses' defaults serve checks built in code (`slawatch probe`): the same."""
    spec = check_types()[name]
    target = spec.expect_target()
    for key in spec.expect:
        assert getattr(target, key.name) == key.default_value(), key.name
    fields = {f.name: f for f in dataclasses.fields(spec.target)}
    for key in spec.keys:
        field = fields.get(key.name)
        if field is not None and key.default is not None:
            default = field.default_factory() if callable(field.default_factory) else field.default
            assert default == key.default_value(), key.name


@pytest.mark.parametrize("name", list(channel_types()))
def test_every_channel_is_declared_whole_and_its_example_loads(name: str) -> None:
    spec = channel_types()[name]
    config = load(docs_script().channel_example(spec) + "\n")
    (channel,) = config.alerts.channels
    assert channel.type == name
    for key in spec.keys:
        assert key.doc, key.name
        if key.required:
            assert channel.settings[key.name] is not None
        if key.secret:
            assert isinstance(channel.settings[key.name], Secret)
            assert channel.settings[key.name].value not in repr(config)


def test_channel_keys_belong_to_their_type() -> None:
    assert problems(
        "alerts:\n  channels:\n    - {id: c, type: slack, url: 'https://h.example/x', "
        "bot_token: b-0123456789}\n"
    ) == ["alerts.channels[0].bot_token: unknown key"]


# ----------------------------------------------------------- a new type: one module, one line


@dataclasses.dataclass(frozen=True, slots=True)
class GopherExpect:
    menu_contains: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class GopherTarget:
    host: str
    port: int = 70
    selector: str = ""
    flavour: str = "plain"
    password: Secret | None = None
    expect: GopherExpect = GopherExpect()


async def gopher_probe(check: Check) -> ProbeResult:
    return ProbeResult(ok=True, latency_ms=1.5, error=f"asked {check.target.selector!r}")


def gopher_from_url(url: str) -> Mapping[str, Any]:
    match = re.fullmatch(r"gopher://([a-z0-9.-]+)(?::(\d+))?(/.*)?", url)
    if not match:
        raise ValueError("must be gopher://host[:port]/selector")
    return {"host": match[1], "port": int(match[2] or 70), "selector": match[3] or ""}


GOPHER = CheckTypeSpec(
    name="gopher",
    doc="A Gopher menu fetched.",
    keys=Table(
        (
            Key("url", TEXT, "gopher://host[:port]/selector."),
            Key("host", HOST, "The server.", required=True),
            Key("port", PORT, "Its port.", default=70),
            Key("selector", TEXT, "What is asked.", default=""),
            Key("flavour", choice(("plain", "plus")), "Gopher or Gopher+.", default="plain"),
            Key("password", SECRET_TEXT, "Sent after the selector.", secret=True),
        )
    ),
    expect=Table((Key("menu_contains", TEXT, "Text the menu must contain."),)),
    target=GopherTarget,
    expect_target=GopherExpect,
    probe=gopher_probe,
    schemes=("gopher",),
    from_url=gopher_from_url,
    example="- id: floodgap\n  url: gopher://gopher.floodgap.com/1/world",
)


@pytest.fixture
def gopher(monkeypatch: pytest.MonkeyPatch) -> CheckTypeSpec:
    monkeypatch.setitem(probes.CHECK_TYPES, "gopher", GOPHER)  # the registry line
    return GOPHER


async def test_a_new_check_type_is_loaded_and_probed(gopher: CheckTypeSpec) -> None:
    config = load(
        """
checks:
  - id: by-url
    url: gopher://gopher.example:7070/1/menu
    expect: {menu_contains: Welcome}
  - id: by-keys
    type: gopher
    host: gopher.example
    flavour: plus
    password: ${GOPHER_PASSWORD}
"""
    )
    by_url, by_keys = config.checks
    assert by_url.type == by_keys.type == "gopher"
    assert by_url.target == GopherTarget(
        "gopher.example", 7070, "/1/menu", expect=GopherExpect("Welcome")
    )
    assert (by_keys.target.port, by_keys.target.flavour) == (70, "plus")
    assert by_keys.target.password == Secret("gopher_password-0123456789")
    result = await probes.run_probe(by_url)
    assert (result.ok, result.error) == (True, "asked '/1/menu'")


def test_a_new_check_types_keys_are_validated(gopher: CheckTypeSpec) -> None:
    found = problems(
        """
checks:
  - {id: a, type: gopher, host: g.example, flavor: plus, expect: {menu_contain: x}}
  - {id: b, type: gopher, flavour: salty, port: 0}
  - {id: c, url: 'gopher://NOPE'}
  - {id: d, type: gopher, host: g.example, password: [hunter2-XYZZY]}
  - {id: e, type: gophr, host: g.example}
"""
    )
    assert found == [
        "checks[0].expect.menu_contain: unknown key (did you mean 'menu_contains'?)",
        "checks[0].flavor: unknown key (did you mean 'flavour'?)",
        "checks[1].flavour: must be one of plain, plus",
        "checks[1].host: is required",
        "checks[1].port: must be between 1 and 65535",
        "checks[2].url: must be gopher://host[:port]/selector",
        "checks[3].password: must be a non-empty string",
        "checks[4].type: must be one of http, tcp, dns, icmp, gopher",
    ]


def check_config(path: Path) -> int:
    """`slawatch check-config PATH` in this process, where the fake type is registered."""
    args = cli.build_parser().parse_args(["check-config", str(path)])
    return int(args.handler(args))


def test_a_new_check_type_is_in_check_config_and_the_docs(
    gopher: CheckTypeSpec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("checks:\n  - {id: g, url: 'gopher://g.example/'}\n", encoding="utf-8")
    assert check_config(path) == 0
    assert "ok (1 checks" in capsys.readouterr().out
    path.write_text("checks:\n  - {id: g, url: 'gopher://g.example/', flavour: x}\n")
    assert check_config(path) == 2
    assert f"{path}:2: checks[0].flavour: must be one of plain, plus" in capsys.readouterr().err
    page = docs_script().configuration()
    assert "#### `type: gopher`\n\nA Gopher menu fetched." in page
    assert "| `flavour` | plain \\| plus | `plain` |" in page
    assert "- `gopher`: `gopher://`" in page


# --------------------------------------------------------- a new channel: one module, one line


def pager_endpoint(channel: Channel) -> Secret:
    key = channel_secret(channel, "routing_key")
    return Secret(f"{channel.settings['api_url'].value}/enqueue/{key.value}")


def pager_render(event: Any, channel: Channel) -> RenderedMessage:
    payload = {"summary": event.kind, "severity": channel.settings["severity"]}
    return RenderedMessage.of_json(channel, event.id, event.kind, payload)


PAGER = ChannelSpec(
    name="pager",
    doc="A paging service.",
    keys=Table(
        (
            Key("routing_key", SECRET_TEXT, "The integration key.", required=True, secret=True),
            Key("api_url", SECRET_URL, "The API.", required=True, secret=True),
            Key("severity", choice(("critical", "warning")), "How loud.", default="critical"),
        )
    ),
    render=pager_render,
    endpoint=pager_endpoint,
)


@pytest.fixture
def pager(monkeypatch: pytest.MonkeyPatch) -> ChannelSpec:
    monkeypatch.setitem(channels.CHANNELS, "pager", PAGER)  # the registry line
    return PAGER


@pytest.fixture
async def pager_service() -> AsyncIterator[tuple[str, list[tuple[str, bytes]]]]:
    received: list[tuple[str, bytes]] = []

    async def enqueue(request: web.Request) -> web.Response:
        received.append((request.path, await request.read()))
        return web.json_response({"status": "success"}, status=202)

    app = web.Application()
    app.router.add_post("/enqueue/{key}", enqueue)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", received
    await runner.cleanup()


async def test_a_new_channel_is_loaded_validated_and_delivers(
    pager: ChannelSpec, pager_service: tuple[str, list[tuple[str, bytes]]]
) -> None:
    url, received = pager_service
    config = parse_config(
        "alerts:\n  channels:\n    - {id: oncall, type: pager, routing_key: '${KEY}', "
        "api_url: '${PAGER_URL}', severity: warning}\n",
        base_dir=Path("/cfg"),
        process="check",
        environ={"KEY": "R0UT1NG-KEY-XYZZY", "PAGER_URL": url},
    )
    (channel,) = config.alerts.channels
    assert channel.settings["severity"] == "warning"
    assert "XYZZY" not in repr(channel)
    event = sample_events()["down"]
    message = channels.render(event, channel)
    async with aiohttp.ClientSession() as session:
        result = await channels.deliver(session, channel, message)
    assert result.delivered, result
    assert received == [
        (
            "/enqueue/R0UT1NG-KEY-XYZZY",
            json.dumps({"summary": "down", "severity": "warning"}, separators=(",", ":")).encode(),
        )
    ]
    assert problems(
        "alerts:\n  channels:\n    - {id: oncall, type: pager, routing_keys: x, api_url: "
        "'https://p.example'}\n"
    ) == [
        "alerts.channels[0].routing_key: is required for a pager channel",
        "alerts.channels[0].routing_keys: unknown key (did you mean 'routing_key'?)",
    ]
    page = docs_script().configuration()
    assert "##### `type: pager`\n\nA paging service." in page
    assert "routing_key: ${TOKEN}" in page


# ------------------------------------------- what a host needs, how a channel groups and sends


def test_a_type_a_host_cannot_run_stops_the_agent_and_the_probe_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from slawatch.agent.main import Agent
    from slawatch.agent.probe_command import BadTarget, build_check
    from slawatch.config.schema import AgentConfig

    unavailable = dataclasses.replace(GOPHER, host_problem=lambda: "no gopher hole on this host")
    monkeypatch.setitem(probes.CHECK_TYPES, "gopher", unavailable)  # the registry line
    checks = load("checks:\n  - {id: g1, url: 'gopher://g.example/'}\n"
                  "  - {id: g2, url: 'gopher://h.example/'}\n  - {id: web, url: 'http://w/'}\n").checks  # fmt: skip
    config = AgentConfig("eu-1", "http://127.0.0.1:1", Secret("t" * 20), tmp_path / "spool.db")
    with pytest.raises(
        ValueError, match=r"^gopher checks \(g1, g2\): no gopher hole on this host$"
    ):
        Agent(config, checks)
    with pytest.raises(BadTarget, match=re.escape("'gopher://g.example/': no gopher hole on")):
        build_check("gopher://g.example/", check_id=None, timeout="5s", insecure=False)
    Agent(config, checks[2:])  # the other types still run


def test_a_channel_that_needs_another_section_finds_it_and_says_so(
    pager: ChannelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    needy = dataclasses.replace(PAGER, name="needy", uses=(("collector", "public_url"),))
    monkeypatch.setitem(channels.CHANNELS, "needy", needy)
    channel_text = (
        "alerts:\n  channels:\n    - {id: n, type: needy, routing_key: k-0123456789, "
        "api_url: 'https://p.example'}\n"
    )
    config = load("collector: {public_url: 'https://sla.example.com'}\n" + channel_text)
    assert config.alerts.channels[0].settings["public_url"] == "https://sla.example.com"
    assert problems("collector: {}\n" + channel_text) == [
        "alerts.channels[0].type: needy channels need collector.public_url"
    ]
    page = docs_script().configuration()
    assert "It needs [`collector.public_url`](#collectorpublic_url)." in page
    assert load(docs_script().channel_example(needy)).alerts.channels[0].type == "needy"


def test_a_channel_says_whether_its_messages_are_grouped(
    pager: ChannelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    from slawatch.collector.alerts.outbox import groups

    assert groups(Channel("p", "pager"))
    monkeypatch.setitem(channels.CHANNELS, "pager", dataclasses.replace(PAGER, groups=False))
    assert not groups(Channel("p", "pager"))
    assert not groups(Channel("w", "webhook")) and groups(Channel("s", "slack"))


# ------------------------------------------------------------------------------ the arrows

AGENT_FILE = """
agent: {id: eu-1, collector: "http://127.0.0.1:8480", token: agent-token-0123456789}
checks:
  - {id: web, url: "https://example.test/"}
alerts:
  channels:
    - {id: ops, type: slack, url: "${UNSET_SLACK_URL}", some_future_key: 1}
  rules:
    - {checks: ["*"], channels: [ops]}
"""
SHOW_IMPORTS = """
import json, sys
from slawatch.config.loader import ConfigError, load_config
try:
    config = load_config(sys.argv[1], process=sys.argv[2], environ={})
    print("loaded", config.alerts.channels[0].type)
except ConfigError as error:
    print("refused", error.render().replace(chr(10), " | "))
print(json.dumps(sorted(m for m in sys.modules if m.startswith("slawatch.collector"))))
"""


def imports_of(text: str, process: str, tmp_path: Path) -> tuple[str, list[str]]:
    path = tmp_path / "shared.yaml"
    path.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", SHOW_IMPORTS, str(path), process],
        capture_output=True,
        text=True,
        check=True,
    )
    outcome, modules = result.stdout.splitlines()
    return outcome, json.loads(modules)


def test_an_agent_host_never_imports_the_collectors_code(tmp_path: Path) -> None:
    outcome, modules = imports_of(AGENT_FILE, "agent", tmp_path)
    assert (outcome, modules) == ("loaded slack", [])
    broken = AGENT_FILE.replace('"${UNSET_SLACK_URL}"', "@hooks/SECRETPART")
    outcome, modules = imports_of(broken, "agent", tmp_path)
    assert outcome.startswith("refused") and "SECRETPART" not in outcome
    assert modules == []
    outcome, modules = imports_of(AGENT_FILE, "check", tmp_path)  # the file is whole there
    assert "alerts.channels[0].some_future_key: unknown key" in outcome
    assert "slawatch.collector.alerts.channels.slack" in modules


def test_load_config_file_for_the_agent_reads_no_channel_keys(tmp_path: Path) -> None:
    path = tmp_path / "shared.yaml"
    path.write_text(AGENT_FILE, encoding="utf-8")
    assert load_config(path, process="agent", environ={}).alerts.channels[0].settings == {}


def test_slawatch_probe_takes_a_new_types_urls(gopher: CheckTypeSpec) -> None:
    from slawatch.agent.probe_command import BadTarget, build_check

    check = build_check("gopher://g.example:7071/1/x", check_id=None, timeout="5s", insecure=False)
    assert (check.id, check.type, check.timeout) == ("g.example", "gopher", 5.0)
    assert check.target == GopherTarget("g.example", 7071, "/1/x")
    with pytest.raises(BadTarget, match="'gopher://G!': url: must be gopher://host"):
        build_check("gopher://G!", check_id=None, timeout="5s", insecure=False)


async def test_a_channel_that_is_no_plain_post_sends_its_own_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """E-mail over SMTP, or a token in a header made at each attempt: the module's `send`."""
    attempts: list[tuple[str, str, float]] = []

    async def send(
        session: aiohttp.ClientSession, channel: Channel, message: RenderedMessage, **options: Any
    ) -> DeliveryResult:
        attempts.append((channel.settings["to"], message.event, options["timeout"]))
        return DeliveryResult("delivered", status=250)

    pigeon = ChannelSpec(
        name="pigeon",
        doc="A carrier pigeon.",
        keys=Table((Key("to", TEXT, "Where it flies.", required=True),)),
        render=pager_render,
        send=send,
    )
    monkeypatch.setitem(channels.CHANNELS, "pigeon", pigeon)
    config = load("alerts:\n  channels:\n    - {id: loft, type: pigeon, to: Paris}\n")
    (channel,) = config.alerts.channels
    with pytest.raises(ValueError, match="needs an endpoint or a send"):
        ChannelSpec(name="mute", doc="", keys=Table(()), render=pager_render)
    message = RenderedMessage(channel.id, "n-1", "down", b"{}")
    async with aiohttp.ClientSession() as session:
        result = await channels.deliver(session, channel, message, timeout=3.0)
    assert result.delivered
    assert attempts == [("Paris", "down", 3.0)]
