"""Reads a config file (CONTRACT §2) into `slawatch.config.schema.Config`, or reports every problem
at once.

Each problem names its key path (`checks[3].interval`) and, where YAML gives one, its line. No
message quotes the value of a secret. `${NAME}` and `${NAME:-default}` are replaced inside string
values after YAML parsing; an unset variable is a problem only in the sections the process reads.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import yaml

from slawatch.config import contract
from slawatch.config.schema import (
    ALERT_EVENTS,
    DEFAULT_BURN_RATE,
    DEFAULT_DIGEST_AT,
    DEFAULT_GROUP_WINDOW_S,
    DEFAULT_RATE_LIMIT,
    DEFAULT_STATUS,
    AgentConfig,
    AgentCredential,
    AlertRule,
    AlertsConfig,
    BurnRateWindow,
    Channel,
    Check,
    CollectorConfig,
    Config,
    CreditTier,
    Customer,
    DigestSettings,
    FlappingSettings,
    HostPort,
    HttpExpect,
    HttpTarget,
    LatencyObjective,
    Maintenance,
    OneOffMaintenance,
    Quorum,
    RateLimit,
    RecurringMaintenance,
    Retention,
    Secret,
    Sla,
    TcpExpect,
    TcpTarget,
    TokenDigest,
)
from slawatch.config.values import (
    format_duration,
    parse_bool,
    parse_duration,
    parse_host_port,
    parse_instant,
    parse_int,
    parse_number,
    parse_status,
    parse_time_of_day,
    parse_timezone,
)

T = TypeVar("T")
KeyPath = tuple[str | int, ...]

SECTIONS = ("collector", "agent", "checks", "slas", "alerts")
EVERY_SECTION: tuple[KeyPath, ...] = tuple((section,) for section in SECTIONS)
PROCESS_READS: Mapping[str, tuple[KeyPath, ...]] = {
    "agent": (("agent",), ("checks",)),
    "collector": (("collector",), ("checks",), ("slas",), ("alerts",)),
    "up": EVERY_SECTION,
    "report": (("checks",), ("slas",), ("collector", "database")),
    "check": EVERY_SECTION,
}
"""What each process reads, as key-path prefixes: an unset `${VAR}` there is a problem; elsewhere
the value is left unread (an agent host needs none of the collector's secrets)."""

CHANNEL_TYPES = ("slack", "discord", "teams", "googlechat", "telegram", "mattermost", "webhook")
MAX_PROVIDER_CHARS = 100
"""`collector.provider`: a name for a page header, not a paragraph."""
_ENV_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    path: str
    message: str
    line: int | None = None

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else source
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    def __init__(self, source: str, problems: Iterable[ConfigProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(problem.render(self.source) for problem in self.problems)


def load_config(
    path: Path | str, *, process: str = "up", environ: Mapping[str, str] | None = None
) -> Config:
    """Read and validate the file for `process`: agent, collector, up, report, or check (every
    section strict, none required)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(
            str(path), [ConfigProblem("", f"cannot read the file: {reason}")]
        ) from None
    return parse_config(
        text,
        source=str(path),
        base_dir=path.resolve().parent,
        process=process,
        environ=os.environ if environ is None else environ,
    )


def parse_config(
    text: str,
    *,
    source: str = "<config>",
    base_dir: Path,
    process: str = "up",
    environ: Mapping[str, str] | None = None,
) -> Config:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = str(getattr(error, "problem", None) or "syntax error")
        # PyYAML quotes the text it stumbled on, which may be a secret (`token: *abc…`).
        message = "invalid YAML: " + re.sub(r"'[^']*'", "'…'", problem)
        line = mark.line + 1 if mark else None
        raise ConfigError(source, [ConfigProblem("", message, line)]) from None
    reader = _Reader(Path(source), base_dir, environ or {}, PROCESS_READS[process])
    if node is not None:
        reader.index(node, ())
    config = reader.read(data, process)
    if reader.problems:
        raise ConfigError(source, sorted(reader.problems, key=lambda p: (p.line or 0, p.path)))
    assert config is not None
    return config


def render_path(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class _Invalid:
    """What a value that failed to parse becomes, so reading can go on to find more problems."""


INVALID: Any = _Invalid()


class _Reader:
    def __init__(
        self,
        source: Path,
        base_dir: Path,
        environ: Mapping[str, str],
        reads: tuple[KeyPath, ...],
    ):
        self.source = source
        self.base_dir = base_dir
        self.environ = environ
        self.reads = reads
        self.unresolved: set[KeyPath] = set()
        """Values holding an unset `${VAR}` outside what the process reads: left unparsed."""
        self.problems: list[ConfigProblem] = []
        self.lines: dict[KeyPath, int] = {}
        self.raw: dict[KeyPath, str] = {}

    # -------------------------------------------------------------------------------- plumbing

    def index(self, node: yaml.Node, path: KeyPath) -> None:
        """Record the line and source text of every key path, and refuse duplicate keys."""
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            self.raw[path] = node.value
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.index(item, (*path, i))
        elif isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if key in seen and key != "<<":
                    self.fail((*path, key), "duplicate key", key_node.start_mark.line + 1)
                seen.add(key)
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                self.index(value_node, (*path, key))

    def fail(self, path: KeyPath, message: str, line: int | None = None) -> None:
        if line is None:
            probe = path
            while probe and probe not in self.lines:
                probe = probe[:-1]
            line = self.lines.get(probe)
        self.problems.append(ConfigProblem(render_path(path), message, line))

    def substitute(self, value: Any, path: KeyPath) -> Any:
        """Replace `${NAME}` / `${NAME:-default}` in every string below `value`."""
        if isinstance(value, str):
            return self._substitute_text(value, path)
        if isinstance(value, list):
            return [self.substitute(item, (*path, i)) for i, item in enumerate(value)]
        if isinstance(value, dict):
            return {key: self.substitute(item, (*path, str(key))) for key, item in value.items()}
        return value

    def _substitute_text(self, text: str, path: KeyPath) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            if name in self.environ:
                return self.environ[name]
            if default is not None:
                return default
            if any(path[: len(prefix)] == prefix for prefix in self.reads):
                self.fail(path, f"environment variable {name} is not set")
            self.unresolved.add(path)  # not parsed: said once, or not this process's to read
            return match.group(0)

        return _ENV_REFERENCE.sub(replace, text)

    def mapping(self, value: Any, path: KeyPath, allowed: Iterable[str]) -> dict[str, Any]:
        """`value` as a mapping with only `allowed` keys; problems reported, {} if not one."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, "must be a mapping of keys to values")
            return {}
        allowed = tuple(allowed)
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.fail((*path, str(key)), f"unknown key{hint}")
        return value

    def string_mapping(self, value: Any, path: KeyPath) -> dict[str, str]:
        """Free keys (labels, headers) to string values; numbers are taken as their text."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, "must be a mapping of names to strings")
            return {}
        result = {}
        for key, item in value.items():
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                self.fail((*path, str(key)), "must be a string")
            else:
                result[str(key)] = str(item)
        return result

    def sequence(self, value: Any, path: KeyPath) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(path, "must be a list")
            return []
        return value

    def take(
        self,
        data: Mapping[str, Any],
        key: str,
        path: KeyPath,
        parse: Callable[[Any], T],
        default: T | None = None,
        *,
        required: bool = False,
    ) -> T:
        """Parse `data[key]`; a missing or null key gives `default` (a problem if required)."""
        value = data.get(key)
        if (*path, key) in self.unresolved:
            return INVALID
        if value is None:
            if required:
                self.fail((*path, key), "is required")
                return INVALID
            return default  # type: ignore[return-value]
        try:
            return parse(value)
        except ValueError as error:
            self.fail((*path, key), str(error))
            return INVALID

    def resolve_path(self, value: Any) -> Path:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a file path")
        path = Path(value.strip()).expanduser()
        return Path(os.path.normpath(path if path.is_absolute() else self.base_dir / path))

    def unique_ids(self, items: Iterable[tuple[KeyPath, str]], what: str) -> None:
        seen: dict[str, KeyPath] = {}
        for path, item_id in items:
            if item_id is INVALID:
                continue
            if item_id in seen:
                self.fail(
                    path, f"duplicate {what} id {item_id!r} (first at {render_path(seen[item_id])})"
                )
            else:
                seen[item_id] = path

    # -------------------------------------------------------------------------------- the file

    def read(self, data: Any, process: str) -> Config | None:
        if data is None:
            data = {}
        top = self.mapping(data, (), SECTIONS)
        top = {key: self.substitute(value, (key,)) for key, value in top.items()}
        collector = self.read_collector(top["collector"]) if "collector" in top else None
        agent = self.read_agent(top["agent"], collector) if "agent" in top else None
        checks = self.read_checks(top.get("checks"))
        slas = self.read_slas(top.get("slas"))
        alerts = self.read_alerts(top.get("alerts"))
        self.cross_check(collector, agent, checks, slas, alerts)
        self.require_sections(process, collector, agent)
        if self.problems:
            return None
        return Config(
            path=self.source,
            folder=self.base_dir,
            collector=collector,
            agent=agent,
            checks=checks,
            slas=slas,
            alerts=alerts,
        )

    def require_sections(
        self, process: str, collector: CollectorConfig | None, agent: AgentConfig | None
    ) -> None:
        if process in ("collector", "up", "report") and collector is None:
            self.fail(("collector",), f"is required by slawatch {process}")
        if process == "agent":
            if agent is None:
                self.fail(("agent",), "is required by slawatch agent")
            elif agent.token is None and not any(p.path == "agent.token" for p in self.problems):
                self.fail(("agent", "token"), "is required by slawatch agent")

    # -------------------------------------------------------------------------------- sections

    def read_collector(self, value: Any) -> CollectorConfig:
        path: KeyPath = ("collector",)
        data = self.mapping(
            value,
            path,
            (
                "listen",
                "database",
                "max_sample_age",
                "admin_token",
                "admin_token_sha256",
                "agents",
                "customers",
                "retention",
                "public_url",
                "provider",
                "metrics_token",
                "metrics_token_sha256",
                "max_connections",
            ),
        )
        listen = self.take(data, "listen", path, parse_host_port, None)
        if listen is None:
            listen = parse_host_port(contract.DEFAULT_LISTEN)
        database = self.take(data, "database", path, self.resolve_path, None)
        if database is None:
            database = self.base_dir / "data" / "slawatch.db"
        agents = tuple(
            self.read_agent_credential(item, (*path, "agents", i))
            for i, item in enumerate(self.sequence(data.get("agents"), (*path, "agents")))
        )
        customers = tuple(
            self.read_customer(item, (*path, "customers", i))
            for i, item in enumerate(self.sequence(data.get("customers"), (*path, "customers")))
        )
        max_sample_age = self.take(
            data,
            "max_sample_age",
            path,
            positive(parse_duration),
            contract.DEFAULT_MAX_SAMPLE_AGE_S,
        )
        return CollectorConfig(
            listen=listen,
            database=database,
            max_sample_age=max_sample_age,
            admin_token=self.read_token(data, path, key="admin_token"),
            agents=agents,
            customers=customers,
            retention=self.read_retention(
                data.get("retention"), (*path, "retention"), max_sample_age
            ),
            public_url=self.take(data, "public_url", path, parse_http_url),
            provider=self.take(data, "provider", path, parse_provider),
            metrics_token=self.read_token(data, path, key="metrics_token"),
            max_connections=self.take(data, "max_connections", path, at_least(1, parse_int)),
        )

    def read_retention(self, value: Any, path: KeyPath, max_sample_age: float) -> Retention:
        """Raw samples are kept by default as long as a late sample may arrive (a late sample
        is placed among its neighbours' raw samples); a shorter `raw` is the user's choice, and
        the collector warns at start."""
        data = self.mapping(value, path, ("raw", "rollups"))
        floor = max_sample_age if max_sample_age is not INVALID else 0.0
        raw = self.take(
            data, "raw", path, positive(parse_duration), floor + contract.RAW_RETENTION_MARGIN_S
        )
        rollups = self.take(
            data, "rollups", path, positive(parse_duration), contract.DEFAULT_ROLLUP_RETENTION_S
        )
        return Retention(raw=raw, rollups=rollups)

    def read_agent_credential(self, value: Any, path: KeyPath) -> AgentCredential:
        data = self.mapping(value, path, ("id", "token", "token_sha256"))
        return AgentCredential(
            id=self.take(data, "id", path, parse_id, required=True),
            token=self.read_token(data, path, required=True),
        )

    def read_customer(self, value: Any, path: KeyPath) -> Customer:
        data = self.mapping(value, path, ("id", "name", "token", "token_sha256", "public_status"))
        customer_id = self.take(data, "id", path, parse_id, required=True)
        return Customer(
            id=customer_id,
            name=self.take(data, "name", path, parse_text, customer_id),
            token=self.read_token(data, path),
            public_status=self.take(data, "public_status", path, parse_bool, False),
        )

    def read_token(
        self, data: Mapping[str, Any], path: KeyPath, *, key: str = "token", required: bool = False
    ) -> TokenDigest | None:
        """A token given plain (`token`) or as its SHA-256 (`token_sha256`); kept as a digest."""
        plain, hashed = data.get(key), data.get(f"{key}_sha256")
        if plain is not None and hashed is not None:
            self.fail((*path, key), f"give {key} or {key}_sha256, not both")
            return None
        if hashed is not None:
            if not isinstance(hashed, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", hashed.strip()):
                self.fail((*path, f"{key}_sha256"), "must be 64 hexadecimal digits")
                return None
            return TokenDigest(bytes.fromhex(hashed.strip()))
        if (*path, key) in self.unresolved:
            return None  # unset where this process does not read
        if plain == "" and not required:
            return None  # `${VAR:-}`: deliberately no token, so no access of this kind
        if plain is None or plain == "":
            if required:
                self.fail((*path, key), f"is required (or {key}_sha256)")
            return None
        if not isinstance(plain, str):
            self.fail((*path, key), "must be a string")
            return None
        if len(plain) < 16:
            self.fail((*path, key), "is too short: use at least 16 characters")
        return TokenDigest.of(plain)

    def read_agent(self, value: Any, collector: CollectorConfig | None) -> AgentConfig:
        path: KeyPath = ("agent",)
        data = self.mapping(
            value,
            path,
            (
                "id",
                "collector",
                "token",
                "spool",
                "spool_max_samples",
                "spool_max_age",
                "metrics_listen",
                "labels",
                "concurrency",
            ),
        )
        agent_id = self.take(data, "id", path, parse_id, required=True)
        listen = collector.listen if collector else None
        default_collector = f"http://{listen}" if isinstance(listen, HostPort) else None
        collector_url = self.take(data, "collector", path, parse_http_url, default_collector)
        if collector_url is None:
            self.fail((*path, "collector"), "is required: the collector's URL")
        spool = self.take(data, "spool", path, self.resolve_path, None)
        if spool is None and agent_id is not INVALID:
            spool = self.base_dir / "data" / f"{agent_id}-spool.db"
        labels = self.string_mapping(data.get("labels"), (*path, "labels"))
        if len(labels) > contract.MAX_LABELS:
            self.fail((*path, "labels"), f"at most {contract.MAX_LABELS} labels")
        for name, label in labels.items():
            if len(name) > contract.MAX_LABEL_LENGTH or len(label) > contract.MAX_LABEL_LENGTH:
                self.fail(
                    (*path, "labels", name), f"at most {contract.MAX_LABEL_LENGTH} characters"
                )
        return AgentConfig(
            id=agent_id,
            collector=collector_url.rstrip("/") if isinstance(collector_url, str) else "",
            token=self.take(data, "token", path, parse_secret),
            spool=spool,
            spool_max_samples=self.take(
                data,
                "spool_max_samples",
                path,
                at_least(1, parse_int),
                contract.DEFAULT_SPOOL_MAX_SAMPLES,
            ),
            spool_max_age=self.take(
                data,
                "spool_max_age",
                path,
                positive(parse_duration),
                contract.DEFAULT_SPOOL_MAX_AGE_S,
            ),
            metrics_listen=self.take(data, "metrics_listen", path, parse_host_port),
            labels=labels,
            concurrency=self.take(data, "concurrency", path, at_least(1, parse_int), 256),
        )

    # ---------------------------------------------------------------------------------- checks

    def read_checks(self, value: Any) -> tuple[Check, ...]:
        items = self.sequence(value, ("checks",))
        checks = tuple(self.read_check(item, ("checks", i)) for i, item in enumerate(items))
        self.unique_ids((((("checks", i, "id")), c.id) for i, c in enumerate(checks)), "check")
        return checks

    def read_check(self, value: Any, path: KeyPath) -> Check:
        common = ("id", "type", "interval", "timeout", "agents", "quorum", "no_data")
        http_keys = ("url", "method", "headers", "body", "follow_redirects", "tls_skip_verify")
        tcp_keys = ("url", "host", "port", "tls", "tls_skip_verify", "server_name", "send")
        raw = value if isinstance(value, dict) else {}
        check_type = self.infer_check_type(raw, path)
        allowed = common + ("expect",) + (http_keys if check_type == "http" else tcp_keys)
        data = self.mapping(value, path, allowed)
        interval = self.take(
            data, "interval", path, between(0.001, contract.MAX_INTERVAL_S, parse_duration), 60.0
        )
        timeout = self.take(data, "timeout", path, positive(parse_duration), None)
        if interval is not INVALID:
            if timeout is None:
                timeout = min(contract.MAX_DEFAULT_TIMEOUT_S, interval)
            elif timeout is not INVALID and timeout > interval:
                self.fail(
                    (*path, "timeout"),
                    f"must not exceed the interval ({format_duration(interval)})",
                )
        target = (
            self.read_http_target(data, path)
            if check_type == "http"
            else self.read_tcp_target(data, path)
        )
        return Check(
            id=self.take(data, "id", path, parse_id, required=True),
            type=check_type,
            target=target,
            interval=interval,
            timeout=timeout,
            agents=self.take(data, "agents", path, parse_id_list),
            quorum=self.take(data, "quorum", path, parse_quorum, "majority"),
            no_data=self.read_no_data(data, path, interval),
        )

    def infer_check_type(self, data: Mapping[str, Any], path: KeyPath) -> str:
        declared = data.get("type")
        url = data.get("url")
        inferred = (
            "tcp"
            if "host" in data or (isinstance(url, str) and url.startswith(("tcp://", "tls://")))
            else "http"
        )
        if declared is None:
            if "url" not in data and "host" not in data:
                self.fail(path, "needs a url (http) or a host and port (tcp)")
            return inferred
        if declared not in ("http", "tcp"):
            self.fail((*path, "type"), "must be http or tcp")
            return inferred
        return str(declared)

    def read_no_data(self, data: Mapping[str, Any], path: KeyPath, interval: float) -> float | None:
        value = data.get("no_data")
        two_intervals = 2 * interval if interval is not INVALID else None
        if value is None or value is True:
            return two_intervals
        if value is False:
            return None
        return self.take(data, "no_data", path, positive(parse_duration), two_intervals)

    def read_http_target(self, data: Mapping[str, Any], path: KeyPath) -> HttpTarget:
        expect_path = (*path, "expect")
        expect = self.mapping(
            data.get("expect"),
            expect_path,
            ("status", "body_contains", "body_regex", "max_latency", "tls_min_days"),
        )
        headers = self.string_mapping(data.get("headers"), (*path, "headers"))
        for name, header in headers.items():
            try:
                check_header(name, header)
            except ValueError as error:
                self.fail((*path, "headers", name), str(error))
        method = self.take(data, "method", path, parse_method, "GET")
        return HttpTarget(
            url=self.take(data, "url", path, parse_http_url, required=True),
            method=method,
            headers=headers,
            body=self.take(data, "body", path, parse_text),
            follow_redirects=self.take(data, "follow_redirects", path, parse_bool, False),
            tls_skip_verify=self.take(data, "tls_skip_verify", path, parse_bool, False),
            expect=HttpExpect(
                status=self.take(expect, "status", expect_path, parse_status, DEFAULT_STATUS),
                body_contains=self.take(expect, "body_contains", expect_path, parse_text),
                body_regex=self.take(expect, "body_regex", expect_path, parse_regex),
                max_latency=self.take(expect, "max_latency", expect_path, positive(parse_duration)),
                tls_min_days=self.take(expect, "tls_min_days", expect_path, parse_number),
            ),
        )

    def read_tcp_target(self, data: Mapping[str, Any], path: KeyPath) -> TcpTarget:
        expect_path = (*path, "expect")
        expect = self.mapping(
            data.get("expect"),
            expect_path,
            ("banner_regex", "banner_contains", "max_latency", "tls_min_days"),
        )
        url = data.get("url")
        host, port, tls = None, None, None
        if isinstance(url, str):
            try:
                parts = urlsplit(url)
                host, tls, port = parts.hostname, parts.scheme == "tls", parts.port
            except ValueError:
                host = port = None
            if not host or port is None:
                self.fail((*path, "url"), "must be tcp://host:port or tls://host:port")
        return TcpTarget(
            host=host or self.take(data, "host", path, parse_host, required=True),
            port=port or self.take(data, "port", path, between(1, 65535, parse_int), required=True),
            tls=tls or self.take(data, "tls", path, parse_bool, False),
            tls_skip_verify=self.take(data, "tls_skip_verify", path, parse_bool, False),
            server_name=self.take(data, "server_name", path, parse_host),
            send=self.take(data, "send", path, parse_text),
            expect=TcpExpect(
                banner_regex=self.take(expect, "banner_regex", expect_path, parse_regex),
                banner_contains=self.take(expect, "banner_contains", expect_path, parse_text),
                max_latency=self.take(expect, "max_latency", expect_path, positive(parse_duration)),
                tls_min_days=self.take(expect, "tls_min_days", expect_path, parse_number),
            ),
        )

    # ------------------------------------------------------------------------------------ slas

    def read_slas(self, value: Any) -> tuple[Sla, ...]:
        items = self.sequence(value, ("slas",))
        slas = tuple(self.read_sla(item, ("slas", i)) for i, item in enumerate(items))
        self.unique_ids(((("slas", i, "id"), s.id) for i, s in enumerate(slas)), "SLA")
        return slas

    def read_sla(self, value: Any, path: KeyPath) -> Sla:
        data = self.mapping(
            value,
            path,
            (
                "id",
                "customer",
                "name",
                "checks",
                "require",
                "objective",
                "period",
                "timezone",
                "quorum",
                "min_downtime",
                "unknown",
                "latency",
                "maintenance",
                "credits",
            ),
        )
        sla_id = self.take(data, "id", path, parse_id, required=True)
        zone = self.take(data, "timezone", path, parse_timezone, ZoneInfo("UTC"))
        checks = self.take(data, "checks", path, parse_id_list, required=True)
        if checks is not INVALID and not checks:
            self.fail((*path, "checks"), "must name at least one check")
        return Sla(
            id=sla_id,
            name=self.take(data, "name", path, parse_text, sla_id),
            checks=checks,
            objective=self.take(
                data, "objective", path, between(0, 100, parse_number), required=True
            ),
            customer=self.take(data, "customer", path, parse_id),
            require=self.take(data, "require", path, one_of(contract.REQUIRE_WORDS), "all"),
            period=self.take(data, "period", path, one_of(contract.PERIOD_WORDS), "month"),
            timezone=zone.key if zone is not INVALID else "UTC",
            quorum=self.take(data, "quorum", path, parse_quorum, "majority"),
            min_downtime=self.take(data, "min_downtime", path, parse_duration, 0.0),
            unknown=self.take(data, "unknown", path, one_of(contract.UNKNOWN_WORDS), "exclude"),
            latency=self.read_latency(data.get("latency"), (*path, "latency")),
            maintenance=tuple(
                self.read_maintenance(item, (*path, "maintenance", i), zone)
                for i, item in enumerate(
                    self.sequence(data.get("maintenance"), (*path, "maintenance"))
                )
            ),
            credits=tuple(
                self.read_credit(item, (*path, "credits", i))
                for i, item in enumerate(self.sequence(data.get("credits"), (*path, "credits")))
            ),
        )

    def read_latency(self, value: Any, path: KeyPath) -> LatencyObjective | None:
        if value is None:
            return None
        data = self.mapping(value, path, ("percentile", "objective"))
        return LatencyObjective(
            objective=self.take(data, "objective", path, positive(parse_duration), required=True),
            percentile=self.take(data, "percentile", path, between(0.001, 100, parse_number), 95.0),
        )

    def read_maintenance(self, value: Any, path: KeyPath, zone: ZoneInfo | Any) -> Maintenance:
        if zone is INVALID:
            zone = ZoneInfo("UTC")
        data = self.mapping(value, path, ("start", "end", "every", "at", "duration", "reason"))
        reason = self.take(data, "reason", path, parse_text, "")
        if "every" in data or "at" in data or "duration" in data:
            for key in ("start", "end"):
                if key in data:
                    self.fail(
                        (*path, key), "a recurring window (every/at/duration) has no start or end"
                    )
            at = self.take(
                data,
                "at",
                path,
                lambda _: parse_time_of_day(self.raw.get((*path, "at"), "")),
                required=True,
            )
            return RecurringMaintenance(
                every=self.take(
                    data, "every", path, one_of((*contract.WEEKDAYS, "day")), required=True
                ),
                at=at,
                duration=self.take(data, "duration", path, positive(parse_duration), required=True),
                reason=reason,
            )
        start = self.take(data, "start", path, lambda v: parse_instant(v, zone), required=True)
        end = self.take(data, "end", path, lambda v: parse_instant(v, zone), required=True)
        if start is not INVALID and end is not INVALID and end <= start:
            self.fail((*path, "end"), "must be after start")
        return OneOffMaintenance(start=start, end=end, reason=reason)

    def read_credit(self, value: Any, path: KeyPath) -> CreditTier:
        data = self.mapping(value, path, ("below", "percent"))
        return CreditTier(
            below=self.take(data, "below", path, between(0, 100, parse_number), required=True),
            percent=self.take(data, "percent", path, between(0, 100, parse_number), required=True),
        )

    # ---------------------------------------------------------------------------------- alerts

    def read_alerts(self, value: Any) -> AlertsConfig:
        path: KeyPath = ("alerts",)
        data = self.mapping(
            value,
            path,
            ("channels", "rules", "max_age", "group_window", "rate_limit", "digest"),
        )
        channels = tuple(
            self.read_channel(item, (*path, "channels", i))
            for i, item in enumerate(self.sequence(data.get("channels"), (*path, "channels")))
        )
        rules = tuple(
            self.read_rule(item, (*path, "rules", i))
            for i, item in enumerate(self.sequence(data.get("rules"), (*path, "rules")))
        )
        self.unique_ids(
            (((*path, "channels", i, "id"), c.id) for i, c in enumerate(channels)), "channel"
        )
        self.unique_ids(
            (((*path, "rules", i, "id"), r.id) for i, r in enumerate(rules) if r.id), "rule"
        )
        return AlertsConfig(
            channels=channels,
            rules=rules,
            max_age=self.take(
                data, "max_age", path, positive(parse_duration), contract.DEFAULT_ALERT_MAX_AGE_S
            ),
            group_window=self.take(
                data, "group_window", path, parse_duration, DEFAULT_GROUP_WINDOW_S
            ),
            rate_limit=self.read_rate_limit(data.get("rate_limit"), (*path, "rate_limit")),
            digest=self.read_digest(data.get("digest"), (*path, "digest")),
        )

    def read_rate_limit(self, value: Any, path: KeyPath) -> RateLimit | None:
        if value is None:
            return DEFAULT_RATE_LIMIT
        if value is False:
            return None
        data = self.mapping(value, path, ("messages", "per"))
        return RateLimit(
            messages=self.take(data, "messages", path, at_least(1, parse_int), required=True),
            per=self.take(data, "per", path, positive(parse_duration), required=True),
        )

    def read_digest(self, value: Any, path: KeyPath) -> DigestSettings | None:
        if value is None:
            return None
        data = self.mapping(value, path, ("channels", "weekday", "at", "timezone"))
        channels = self.take(data, "channels", path, parse_id_list, required=True)
        if channels is not INVALID and not channels:
            self.fail((*path, "channels"), "must name at least one channel")
        zone = self.take(data, "timezone", path, parse_timezone, None)
        return DigestSettings(
            channels=channels,
            weekday=self.take(data, "weekday", path, one_of(contract.WEEKDAYS), "monday"),
            at=self.take(
                data,
                "at",
                path,
                lambda _: parse_time_of_day(self.raw.get((*path, "at"), "")),
                DEFAULT_DIGEST_AT,
            ),
            timezone="UTC" if zone is None or zone is INVALID else zone.key,
        )

    def read_channel(self, value: Any, path: KeyPath) -> Channel:
        data = self.mapping(
            value, path, ("id", "type", "url", "secret", "bot_token", "chat_id", "api_url")
        )
        channel_type = self.take(data, "type", path, one_of(CHANNEL_TYPES), required=True)
        needs = {"telegram": ("bot_token", "chat_id"), "webhook": ("url", "secret")}.get(
            channel_type, ("url",)
        )
        for key in needs:
            if data.get(key) is None and channel_type is not INVALID:
                self.fail((*path, key), f"is required for a {channel_type} channel")
        return Channel(
            id=self.take(data, "id", path, parse_id, required=True),
            type=channel_type,
            url=self.take(data, "url", path, parse_secret_url),
            secret=self.take(data, "secret", path, parse_secret),
            bot_token=self.take(data, "bot_token", path, parse_secret),
            chat_id=self.take(data, "chat_id", path, parse_text_or_number),
            api_url=self.take(data, "api_url", path, parse_http_url),
        )

    def read_rule(self, value: Any, path: KeyPath) -> AlertRule:
        data = self.mapping(
            value,
            path,
            (
                "id",
                "checks",
                "slas",
                "channels",
                "after",
                "repeat",
                "resolved",
                "resolve_after",
                "events",
                "burn_rate",
                "flapping",
            ),
        )
        rule = AlertRule(
            id=self.take(data, "id", path, parse_id),
            checks=self.take(data, "checks", path, parse_glob_list, ()),
            slas=self.take(data, "slas", path, parse_id_list, ()),
            channels=self.take(data, "channels", path, parse_id_list, required=True),
            after=self.take(data, "after", path, parse_duration, 0.0),
            repeat=self.take(data, "repeat", path, parse_duration, 0.0),
            resolved=self.take(data, "resolved", path, parse_bool, True),
            resolve_after=self.take(data, "resolve_after", path, parse_duration, 0.0),
            events=self.take(data, "events", path, parse_event_list, ALERT_EVENTS),
            burn_rate=self.read_burn_rate(data.get("burn_rate"), (*path, "burn_rate")),
            flapping=self.read_flapping(data.get("flapping"), (*path, "flapping")),
        )
        if not data.get("checks") and not data.get("slas"):
            self.fail(path, "must name checks (globs) or slas to watch")
        return rule

    def read_burn_rate(self, value: Any, path: KeyPath) -> tuple[BurnRateWindow, ...]:
        """The rule's burn-rate conditions: the SRE workbook's by default, `false` for none."""
        if value is None or value is True:
            return DEFAULT_BURN_RATE
        if value is False:
            return ()
        if not isinstance(value, list) or not value:
            self.fail(path, "must be false or a list of {severity, long, short, factor}")
            return ()
        windows = []
        for i, item in enumerate(value):
            item_path = (*path, i)
            data = self.mapping(item, item_path, ("severity", "long", "short", "factor"))
            window = BurnRateWindow(
                long=self.take(data, "long", item_path, positive(parse_duration), required=True),
                short=self.take(data, "short", item_path, positive(parse_duration), required=True),
                factor=self.take(data, "factor", item_path, positive(parse_number), required=True),
                severity=self.take(data, "severity", item_path, one_of(("page", "ticket")), "page"),
            )
            if INVALID not in (window.long, window.short) and window.short >= window.long:
                self.fail((*item_path, "short"), "must be shorter than long")
            windows.append(window)
        return tuple(windows)

    def read_flapping(self, value: Any, path: KeyPath) -> FlappingSettings | None:
        if value is None or value is True:
            return FlappingSettings()
        if value is False:
            return None
        data = self.mapping(value, path, ("changes", "window", "settle"))
        window = self.take(data, "window", path, positive(parse_duration), 600.0)
        settle_default = window if window is not INVALID else 600.0
        return FlappingSettings(
            changes=self.take(data, "changes", path, at_least(2, parse_int), 5),
            window=window,
            settle=self.take(data, "settle", path, positive(parse_duration), settle_default),
        )

    # ----------------------------------------------------------------------------- references

    def cross_check(
        self,
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
            self.unique_ids(
                ((("collector", "agents", i, "id"), a.id) for i, a in enumerate(collector.agents)),
                "agent",
            )
            self.unique_ids(
                (
                    (("collector", "customers", i, "id"), c.id)
                    for i, c in enumerate(collector.customers)
                ),
                "customer",
            )
            self.check_tokens_unique(collector, agent)
        for i, check in enumerate(checks):
            for j, agent_id in enumerate(check.agents if isinstance(check.agents, tuple) else ()):
                if agent_ids and agent_id not in agent_ids and agent_id is not INVALID:
                    self.fail(("checks", i, "agents", j), f"unknown agent {agent_id!r}")
        for i, sla in enumerate(slas):
            if isinstance(sla.checks, tuple) and checks:
                for j, check_id in enumerate(sla.checks):
                    if check_id not in check_ids:
                        self.fail(("slas", i, "checks", j), f"unknown check {check_id!r}")
            if collector and isinstance(sla.customer, str) and sla.customer not in customer_ids:
                self.fail(("slas", i, "customer"), f"unknown customer {sla.customer!r}")
        channel_ids = {c.id for c in alerts.channels}
        sla_ids = {s.id for s in slas}
        for i, rule in enumerate(alerts.rules):
            for j, channel_id in enumerate(
                rule.channels if isinstance(rule.channels, tuple) else ()
            ):
                if channel_id not in channel_ids:
                    self.fail(
                        ("alerts", "rules", i, "channels", j), f"unknown channel {channel_id!r}"
                    )
            for j, sla_id in enumerate(rule.slas if isinstance(rule.slas, tuple) else ()):
                if sla_id not in sla_ids:
                    self.fail(("alerts", "rules", i, "slas", j), f"unknown SLA {sla_id!r}")
        digest = alerts.digest
        for j, channel_id in enumerate(
            digest.channels if digest and isinstance(digest.channels, tuple) else ()
        ):
            if channel_id not in channel_ids:
                self.fail(("alerts", "digest", "channels", j), f"unknown channel {channel_id!r}")
        if agent and agent.token and agent_ids and agent.id not in agent_ids:
            self.fail(("agent", "id"), f"{agent.id!r} is not among collector.agents")

    def check_tokens_unique(self, collector: CollectorConfig, agent: AgentConfig | None) -> None:
        """One token serving two principals is refused: it would blur every scope. The file's own
        agent (`slawatch up` registers it) is the same principal as its `collector.agents` entry."""
        holders: list[tuple[KeyPath, TokenDigest | None]] = [
            (("collector", "admin_token"), collector.admin_token),
            (("collector", "metrics_token"), collector.metrics_token),
            *(
                (("collector", "agents", i, "token"), a.token)
                for i, a in enumerate(collector.agents)
            ),
            *(
                (("collector", "customers", i, "token"), c.token)
                for i, c in enumerate(collector.customers)
            ),
        ]
        if agent and isinstance(agent.token, Secret):
            digest = TokenDigest.of(agent.token.value)
            if (agent.id, digest) not in {(a.id, a.token) for a in collector.agents}:
                holders.append((("agent", "token"), digest))
        seen: dict[bytes, KeyPath] = {}
        for path, digest in holders:
            if not isinstance(digest, TokenDigest):
                continue
            if digest.sha256 in seen:
                self.fail(path, f"is the same token as {render_path(seen[digest.sha256])}")
            else:
                seen[digest.sha256] = path


# ------------------------------------------------------------------------------- value parsers


def parse_id(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError('must be a string id (quote it in YAML, like "no")')
    if not contract.ID_PATTERN.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid id: use [a-z0-9][a-z0-9._-]{{0,127}}")
    return value


def parse_id_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError("must be a list of ids")
    return tuple(parse_id(item) for item in value)


def parse_event_list(value: Any) -> tuple[str, ...]:
    words = ", ".join(ALERT_EVENTS)
    if not isinstance(value, list) or not value:
        raise ValueError(f"must be a list of events among {words}")
    for item in value:
        if item not in ALERT_EVENTS:
            raise ValueError(f"{str(item)[:40]!r} is not an event: use {words}")
    return tuple(dict.fromkeys(value))


def parse_glob_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValueError('must be a list of check ids or globs, like ["*"] or ["acme-*"]')
    return tuple(value)


def parse_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("must be a string")
    return str(value)


def parse_provider(value: Any) -> str:
    """A name shown on reports and status pages: one line of 1 to 100 characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string, like Example Hosting")
    name = value.strip()
    if len(name) > MAX_PROVIDER_CHARS:
        raise ValueError(f"must be at most {MAX_PROVIDER_CHARS} characters")
    if any(not character.isprintable() for character in name):
        raise ValueError("must be one line of printable characters")
    return name


def parse_text_or_number(value: Any) -> str:
    return parse_text(value)


def parse_secret(value: Any) -> Secret | None:
    if not isinstance(value, str) or not value:
        raise ValueError("must be a non-empty string")
    return Secret(value)


def parse_http_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be an http:// or https:// URL")
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError("must be an http:// or https:// URL with a valid host and port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return value.strip()


def parse_secret_url(value: Any) -> Secret | None:
    """A chat webhook URL: a secret, so the message never repeats it."""
    return Secret(parse_http_url(value))


def parse_host(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9._:\-\[\]]+", value.strip()):
        raise ValueError("must be a host name or IP address")
    return value.strip().strip("[]")


def parse_method(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]+", value.strip()):
        raise ValueError("must be an HTTP method like GET or POST")
    if value.strip().upper() == "CONNECT":
        raise ValueError("CONNECT opens a tunnel, not a request a probe can judge")
    return value.strip().upper()


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""An RFC 9110 token."""


def check_header(name: str, value: str) -> None:
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError("is not a valid header name (letters, digits and !#$%&'*+.^_`|~-)")
    if any(character in value for character in "\r\n\0"):
        raise ValueError("must not contain line breaks or NUL")


def parse_regex(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a regular expression string")
    try:
        re.compile(value)
    except re.error as error:
        raise ValueError(f"is not a valid regular expression: {error}") from None
    return value


def parse_quorum(value: Any) -> Quorum:
    if isinstance(value, str) and value in contract.QUORUM_WORDS:
        return value  # type: ignore[return-value]
    try:
        number = parse_int(value)
    except ValueError:
        raise ValueError("must be any, majority, all or a number of agents") from None
    if number < 1:
        raise ValueError("must be at least 1 agent")
    return number


def one_of(words: tuple[str, ...]) -> Callable[[Any], Any]:
    def parse(value: Any) -> str:
        if value not in words:
            raise ValueError(f"must be one of {', '.join(words)}")
        return value

    return parse


def positive(parse: Callable[[Any], float]) -> Callable[[Any], float]:
    def parse_positive(value: Any) -> float:
        number = parse(value)
        if number <= 0:
            raise ValueError("must be more than 0")
        return number

    return parse_positive


def at_least(low: int, parse: Callable[[Any], int]) -> Callable[[Any], int]:
    def parse_at_least(value: Any) -> int:
        number = parse(value)
        if number < low:
            raise ValueError(f"must be at least {low}")
        return number

    return parse_at_least


def between(low: float, high: float, parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse_between(value: Any) -> Any:
        number = parse(value)
        if not low <= number <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")
        return number

    return parse_between
