"""`slawatch import gatus config.yaml`: Gatus' endpoints and alerting providers as slawatch
checks, channels and rules.

An endpoint maps when its URL is `http(s)://`, `tcp://`, `tls://` or `icmp://` and each of its
conditions has a slawatch `expect`: `[STATUS] == 200` (also `<`, `<=`, `any(…)`), `[RESPONSE_TIME]
< N` (`max_latency`), `[BODY] == pat(*text*)` (`body_contains`; other patterns and literal bodies
become `body_regex`), `[CERTIFICATE_EXPIRATION] > 48h` (`tls_min_days`), `[CONNECTED] == true`.
A condition without one (JSON paths of the body, `len()`, `[IP]`…) is named in a comment above
the check. An endpoint's alerts become a rule: Gatus alerts after `failure-threshold` failures
in a row (default 3), so slawatch alerts once the check has been DOWN for the threshold less one
intervals; `send-on-resolved` is `resolved`.

Gatus replaces `${VAR}` from the environment as slawatch does: a secret written so in the Gatus
file keeps its variable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from slawatch.importers.model import (
    Imported,
    ImportedChannel,
    ImportedCheck,
    ImportedRule,
    Skipped,
    SourceError,
    check_id,
    env_name,
    new_secret,
    seconds_text,
)

TOOL = "Gatus"
DEFAULT_INTERVAL_S = 60.0
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_FAILURE_THRESHOLD = 3
CONDITION = re.compile(r"^\s*(.+?)\s*(==|!=|<=|>=|<|>)\s*(.+?)\s*$")
ENV_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class Unmapped(Exception):
    """Why an endpoint, condition or provider has no slawatch equivalent."""


def read_config(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except (OSError, UnicodeError) as error:
        raise SourceError(f"{path}: cannot read it: {error}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise SourceError(f"{path}: not valid YAML: {where}{error.problem}") from None
    except yaml.YAMLError as error:
        raise SourceError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("endpoints", []), list):
        raise SourceError(f"{path}: not a Gatus config (a mapping with a list of `endpoints`)")
    if "endpoints" not in data:
        raise SourceError(f"{path}: not a Gatus config (no `endpoints`)")
    return data


def import_config(path: Path) -> Imported:
    config = read_config(path)
    alerting = config.get("alerting") or {}
    if not isinstance(alerting, dict):
        raise SourceError(f"{path}: alerting: must be a mapping")
    skipped: list[Skipped] = []
    channels, secrets, channel_of = _channels(alerting, skipped)
    taken: set[str] = set()
    checks: list[ImportedCheck] = []
    rules: list[ImportedRule] = []
    for index, endpoint in enumerate(config["endpoints"]):
        if not isinstance(endpoint, dict):
            skipped.append(Skipped(f"endpoints[{index}]", "not a mapping"))
            continue
        label = _label(endpoint, index)
        if endpoint.get("enabled") is False:
            skipped.append(Skipped(label, "disabled in Gatus"))
            continue
        try:
            check = endpoint_check(endpoint, taken, label)
            endpoint_rules = _rules(endpoint, check, alerting, channel_of)
        except Unmapped as reason:
            skipped.append(Skipped(label, str(reason)))
            continue
        except (AttributeError, TypeError, ValueError) as error:
            skipped.append(Skipped(label, f"not an endpoint as Gatus documents them ({error})"))
            continue
        checks.append(check)
        rules += endpoint_rules
    return Imported(
        tool=TOOL,
        file=str(path),
        checks=tuple(checks),
        channels=tuple(channels),
        rules=tuple(rules),
        skipped=tuple(skipped),
        secrets=secrets,
    )


def _label(endpoint: Mapping[str, Any], index: int) -> str:
    name = endpoint.get("name") or f"endpoints[{index}]"
    group = endpoint.get("group")
    return f"endpoint {f'{group}/' if group else ''}{name!s}"


def endpoint_check(endpoint: Mapping[str, Any], taken: set[str], label: str) -> ImportedCheck:
    url = str(endpoint.get("url") or "")
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme in ("http", "https"):
        data: dict[str, Any] = {"url": url}
    elif scheme in ("tcp", "tls"):
        data = {"url": url}
    elif scheme == "icmp":
        data = {"type": "icmp", "host": url.partition("://")[2].strip("/")}
    elif "dns" in endpoint:
        raise Unmapped("DNS endpoints are not imported yet: write a `dns://` check")
    else:
        raise Unmapped(f"URL {url!r}: slawatch has no check for {scheme or 'it'}")
    interval = parse_duration(endpoint.get("interval"), DEFAULT_INTERVAL_S, "interval")
    client = endpoint.get("client") or {}
    timeout = parse_duration(client.get("timeout"), DEFAULT_TIMEOUT_S, "client.timeout")
    notes: list[str] = []
    http = scheme in ("http", "https")
    if http:
        _http_request(endpoint, client, data)
    elif client.get("insecure"):
        data["tls_skip_verify"] = True
    expect = _expect(endpoint.get("conditions") or [], http, notes)
    base = check_id(
        "-".join(str(p) for p in (endpoint.get("group"), endpoint.get("name")) if p),
        taken,
        "gatus",
    )
    data = {"id": base, **data, "interval": seconds_text(interval)}
    data["timeout"] = seconds_text(min(timeout, interval))
    if expect:
        data["expect"] = expect
    return ImportedCheck(data=data, source=label, notes=tuple(notes))


def _http_request(
    endpoint: Mapping[str, Any], client: Mapping[str, Any], data: dict[str, Any]
) -> None:
    method = str(endpoint.get("method") or "GET").upper()
    if method != "GET":
        data["method"] = method
    headers = endpoint.get("headers") or {}
    if headers:
        data["headers"] = {str(k): str(v) for k, v in headers.items()}
    if endpoint.get("body"):
        data["body"] = str(endpoint["body"])
    if not client.get("ignore-redirect"):
        data["follow_redirects"] = True
    if client.get("insecure"):
        data["tls_skip_verify"] = True


def _expect(conditions: list[Any], http: bool, notes: list[str]) -> dict[str, Any]:
    expect: dict[str, Any] = {}
    for condition in conditions:
        try:
            _condition(str(condition), expect, http)
        except Unmapped as reason:
            notes.append(f"condition `{condition}` not imported: {reason}")
    if http and "status" not in expect:
        expect = {"status": ["100-599"], **expect}  # Gatus judges only the conditions given
    return expect


def _condition(condition: str, expect: dict[str, Any], http: bool) -> None:
    match = CONDITION.match(condition)
    if match is None:
        raise Unmapped("not a comparison slawatch reads")
    left, operator, right = match.groups()
    if left == "[STATUS]" and http:
        expect["status"] = _status(operator, right)
    elif left == "[RESPONSE_TIME]" and operator in ("<", "<="):
        expect["max_latency"] = f"{int(right)}ms" if right.isdigit() else _no(right)
    elif left == "[BODY]" and operator == "==" and http:
        _body(right, expect)
    elif left == "[CERTIFICATE_EXPIRATION]" and operator in (">", ">="):
        days = parse_duration(right, 0, "[CERTIFICATE_EXPIRATION]") / 86400
        expect["tls_min_days"] = math.ceil(days)
    elif left == "[CONNECTED]" and operator == "==" and right == "true":
        pass  # a check that cannot connect is DOWN already
    elif left.startswith("[BODY]."):
        raise Unmapped("slawatch does not read JSON paths of the body")
    else:
        raise Unmapped("slawatch has no expect for it")


def _no(value: str) -> str:
    raise Unmapped(f"{value!r} is not a number of milliseconds")


def _status(operator: str, right: str) -> list[Any]:
    if operator == "==" and right.isdigit():
        return [int(right)]
    if operator == "==" and right.startswith("any(") and right.endswith(")"):
        codes = [c.strip() for c in right[4:-1].split(",")]
        if all(c.isdigit() for c in codes):
            return [int(c) for c in codes]
    if operator in ("<", "<=") and right.isdigit():
        top = int(right) - (operator == "<")
        return [f"100-{top}"]
    if operator in (">", ">=") and right.isdigit():
        bottom = int(right) + (operator == ">")
        return [f"{bottom}-599"]
    raise Unmapped("a status comparison slawatch cannot express")


def _body(right: str, expect: dict[str, Any]) -> None:
    if right.startswith("pat(") and right.endswith(")"):
        pattern = right[4:-1]
        inner = pattern[1:-1]
        if len(pattern) > 2 and pattern[0] == pattern[-1] == "*" and "*" not in inner:
            expect["body_contains"] = inner
        else:
            parts = (re.escape(part) for part in pattern.split("*"))
            expect["body_regex"] = r"\A" + "[\\s\\S]*".join(parts) + r"\Z"
    elif right.startswith(("has(", "any(", "len(")):
        raise Unmapped("slawatch has no expect for it")
    else:
        expect["body_regex"] = r"\A" + re.escape(right.strip('"')) + r"\Z"


def parse_duration(value: Any, default: float, what: str) -> float:
    """A Go duration (`1m30s`, `500ms`) or a number of seconds, in seconds."""
    if value is None:
        return default
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    parts = DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise Unmapped(f"{what} {value!r} is not a duration")
    return sum(float(number) * UNIT_S[unit] for number, unit in parts)


PROVIDERS = {
    # Gatus provider: (slawatch type, {slawatch key: Gatus key})
    "slack": ("slack", {"url": "webhook-url"}),
    "discord": ("discord", {"url": "webhook-url"}),
    "teams": ("teams", {"url": "webhook-url"}),
    "teams-workflows": ("teams", {"url": "webhook-url"}),
    "mattermost": ("mattermost", {"url": "webhook-url"}),
    "google-chat": ("googlechat", {"url": "webhook-url"}),
    "telegram": ("telegram", {"bot_token": "token", "chat_id": "id", "api_url": "api-url"}),
    "pagerduty": ("pagerduty", {"routing_key": "integration-key"}),
    "custom": ("webhook", {"url": "url"}),
}
PUBLIC_KEYS = frozenset({"chat_id", "api_url"})


def _channels(
    alerting: Mapping[str, Any], skipped: list[Skipped]
) -> tuple[list[ImportedChannel], dict[str, str], dict[str, str]]:
    channels: list[ImportedChannel] = []
    secrets: dict[str, str] = {}
    channel_of: dict[str, str] = {}
    taken: set[str] = set()
    for provider, settings in alerting.items():
        label = f"alerting provider {provider}"
        if not isinstance(settings, dict):
            skipped.append(Skipped(label, "not a mapping", "channels"))
            continue
        try:
            kind, values = _provider(provider, settings)
        except Unmapped as reason:
            skipped.append(Skipped(label, str(reason), "channels"))
            continue
        except (AttributeError, TypeError, ValueError) as error:
            why = f"not a provider as Gatus documents them ({error})"
            skipped.append(Skipped(label, why, "channels"))
            continue
        channel_id = check_id(provider, taken, "gatus")
        data: dict[str, Any] = {"id": channel_id, "type": kind}
        for key, value in values.items():
            if value in (None, ""):
                continue
            if key in PUBLIC_KEYS:
                data[key] = str(value)
                continue
            reference = ENV_REFERENCE.match(str(value))
            variable = reference.group(1) if reference else env_name(channel_id, key)
            data[key] = f"${{{variable}}}"
            if not reference:
                secrets[variable] = str(value)
        notes: tuple[str, ...] = ()
        if kind == "webhook":
            variable = env_name(channel_id, "secret")
            data["secret"] = f"${{{variable}}}"
            secrets[variable] = new_secret()
            notes = (
                "slawatch posts its own signed JSON event (see the webhook channel), not "
                "Gatus' custom body: adapt the receiver",
            )
        channels.append(ImportedChannel(data=data, source=label, notes=notes))
        channel_of[provider] = channel_id
    return channels, secrets, channel_of


def _provider(provider: str, settings: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if provider == "ntfy":
        server = str(settings.get("url") or "https://ntfy.sh").rstrip("/")
        if not settings.get("topic"):
            raise Unmapped("no topic")
        return "ntfy", {"url": f"{server}/{settings['topic']}", "token": settings.get("token")}
    if provider not in PROVIDERS:
        raise Unmapped("slawatch has no channel of this type")
    kind, keys = PROVIDERS[provider]
    values = {key: settings.get(gatus_key) for key, gatus_key in keys.items()}
    missing = [keys[k] for k, v in values.items() if not v and k not in PUBLIC_KEYS]
    if missing:
        raise Unmapped(f"{', '.join(missing)} not set")
    return kind, values


def _rules(
    endpoint: Mapping[str, Any],
    check: ImportedCheck,
    alerting: Mapping[str, Any],
    channel_of: Mapping[str, str],
) -> list[ImportedRule]:
    """A rule per distinct (threshold, resolved) among the endpoint's enabled alerts."""
    interval = parse_duration(endpoint.get("interval"), DEFAULT_INTERVAL_S, "interval")
    grouped: dict[tuple[int, bool], list[str]] = {}
    for alert in endpoint.get("alerts") or []:
        if not isinstance(alert, dict) or alert.get("type") not in channel_of:
            continue
        provider = alert["type"]
        defaults = (alerting.get(provider) or {}).get("default-alert") or {}
        settings = {**defaults, **alert}
        if settings.get("enabled") is False:
            continue
        threshold = int(settings.get("failure-threshold") or DEFAULT_FAILURE_THRESHOLD)
        resolved = bool(settings.get("send-on-resolved", False))
        grouped.setdefault((threshold, resolved), []).append(channel_of[provider])
    rules = []
    for (threshold, resolved), channels in grouped.items():
        data = {
            "checks": [check.id],
            "channels": channels,
            "after": seconds_text((threshold - 1) * interval),
            "resolved": resolved,
        }
        failures = "1 failure" if threshold == 1 else f"{threshold} failures in a row"
        why = f"Gatus: alert after {failures}, {seconds_text(interval)} apart"
        rules.append(ImportedRule(data=data, why=why))
    return rules
