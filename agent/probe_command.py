"""`slawatch probe TARGET`: one probe now, shown with its phase timings or as one sample (§3.1).

TARGET is an `http://` or `https://` URL, or `host:port`, `[v6]:port`, `tcp://host:port`,
`tls://host:port` for a TCP check, or a URL of another registered check type (its `schemes`:
`dns://…`, `icmp://HOST`), read as a config file's `url:`. The check gets the default
expectations of CONTRACT §2. Exit 0 when UP, 1 when DOWN, 2 when the target or an option cannot
be used (also a type this host cannot run, like ICMP without a socket it may open).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import sys
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from slawatch.agent.probes import CHECK_TYPES, host_problem, run_probe
from slawatch.agent.sample import Sample
from slawatch.config.contract import DEFAULT_INTERVAL_S, ID_PATTERN, MAX_INTERVAL_S, PHASES
from slawatch.config.reader import ConfigError
from slawatch.config.schema import Check, HttpTarget, TcpTarget
from slawatch.config.sections.checks import check_from
from slawatch.config.values import parse_duration

EXIT_UP = 0
EXIT_DOWN = 1
EXIT_BAD_TARGET = 2

_HOST_PORT = re.compile(
    r"\[(?P<v6>[0-9A-Fa-f:.]+(?:%\w+)?)\]:(?P<v6port>\d+)"  # [v6]:port
    r"|(?P<host>[\w.-]+):(?P<port>\d+)"  # name:port, v4:port
)
_TARGET_HELP = "a URL ({schemes}) or host:port".format(
    schemes=", ".join(f"{scheme}://" for spec in CHECK_TYPES.values() for scheme in spec.schemes)
)


class BadTarget(ValueError):
    """A target or option the probe cannot run with; the message is for the user."""


def run(target: str, *, as_json: bool, check_id: str | None, timeout: str, insecure: bool) -> int:
    try:
        check = build_check(target, check_id=check_id, timeout=timeout, insecure=insecure)
    except BadTarget as error:
        print(f"slawatch probe: {error}", file=sys.stderr)
        return EXIT_BAD_TARGET
    sample = asyncio.run(probe_once(check))
    print(json.dumps(sample.to_json()) if as_json else render(sample, target.strip()))
    return EXIT_UP if sample.result.ok else EXIT_DOWN


async def probe_once(check: Check) -> Sample:
    started = time.time()
    result = await run_probe(check)
    return Sample(
        check=check.id, ts=started, interval_s=check.interval, type=check.type, result=result
    )


def build_check(target: str, *, check_id: str | None, timeout: str, insecure: bool) -> Check:
    timeout_s = parse_timeout(timeout)
    check_type, parsed = parse_target(target.strip(), insecure=insecure)
    host = getattr(parsed, "host", None) or urlsplit(target.strip()).hostname or ""
    if check_id is not None and not ID_PATTERN.fullmatch(check_id):
        raise BadTarget(f"--id {check_id!r}: must match {ID_PATTERN.pattern}")
    problem = host_problem(check_type)
    if problem:
        raise BadTarget(f"{target.strip()!r}: {problem}")
    return Check(
        id=check_id or id_from_host(host),
        type=check_type,
        target=parsed,
        interval=max(DEFAULT_INTERVAL_S, timeout_s),
        timeout=timeout_s,
    )


def parse_timeout(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        raise BadTarget(f"--timeout {text!r}: {error}") from None
    if not 0 < seconds <= MAX_INTERVAL_S:
        raise BadTarget(f"--timeout {text!r}: must be more than 0 and at most 1d")
    return seconds


def parse_target(text: str, *, insecure: bool) -> tuple[str, object]:
    """("http", HttpTarget), ("tcp", TcpTarget) or another registered type's, or BadTarget
    saying what is wrong."""
    scheme, has_scheme, rest = text.partition("://")
    scheme = scheme.lower()
    if not has_scheme:
        host, port = parse_host_port(text)
        return "tcp", TcpTarget(host=host, port=port, tls_skip_verify=insecure)
    if scheme in ("tcp", "tls"):
        host, port = parse_host_port(rest.rstrip("/"), shown=text)
        return "tcp", TcpTarget(host=host, port=port, tls=scheme == "tls", tls_skip_verify=insecure)
    if scheme in ("http", "https"):
        check_url(text)
        return "http", HttpTarget(url=text, tls_skip_verify=insecure)
    return registered_target(text, scheme, insecure=insecure)


def registered_target(text: str, scheme: str, *, insecure: bool) -> tuple[str, object]:
    """The target of the check type whose scheme this is, as the loader reads a `url:`."""
    spec = next((t for t in CHECK_TYPES.values() if scheme in t.schemes), None)
    if spec is None:
        raise BadTarget(f"{text!r}: unsupported scheme {scheme}://; expected {_TARGET_HELP}")
    data: dict[str, object] = {"id": "probe", "url": text}
    if insecure and spec.key("tls_skip_verify") is not None:
        data["tls_skip_verify"] = True
    try:
        check = check_from(data, "slawatch probe")
    except ConfigError as error:
        said = "; ".join(f"{p.path}: {p.message}" for p in error.problems)
        raise BadTarget(f"{text!r}: {said}") from None
    return check.type, check.target


def check_url(url: str) -> None:
    if any(c.isspace() for c in url):
        raise BadTarget(f"{url!r}: a URL cannot contain spaces")
    try:
        parts = urlsplit(url)
    except ValueError as error:  # a bracket left open, not an IP address in brackets
        raise BadTarget(f"{url!r}: not a valid URL ({_lower_first(str(error))})") from None
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise BadTarget(f"{url!r}: invalid port") from None
    if not parts.hostname:
        raise BadTarget(f"{url!r}: no host; expected {_TARGET_HELP}")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def parse_host_port(text: str, shown: str | None = None) -> tuple[str, int]:
    shown = shown or text
    match = _HOST_PORT.fullmatch(text)
    if not match:
        raise BadTarget(f"{shown!r}: expected {_TARGET_HELP}")
    host = match["v6"] or match["host"]
    port = int(match["v6port"] or match["port"])
    if not 1 <= port <= 65535:
        raise BadTarget(f"{shown!r}: port must be between 1 and 65535")
    return host, port


def id_from_host(host: str) -> str:
    """A check id (CONTRACT §4.7) that says which host was probed."""
    text = re.sub(r"[^a-z0-9._-]+", "-", host.lower()).lstrip("._-")[:128]
    return text or "probe"


# ------------------------------------------------------------------------------------- output


def render(sample: Sample, target: str) -> str:
    """A verdict line, then phase timings the way `curl -w` users read them."""
    result = sample.result
    verdict = [
        "UP" if result.ok else "DOWN",
        target,
        f"status {result.status_code}" if result.status_code is not None else None,
        f"{result.latency_ms:.1f} ms" if result.latency_ms is not None else None,
        result.error,
    ]
    lines = ["  ".join(part for part in verdict if part), ""]
    for phase in PHASES:
        if phase in result.phases_ms:
            lines.append(f"  {phase:<10}{result.phases_ms[phase]:>10.3f} ms")
    if result.latency_ms is not None:
        lines.append(f"  {'total':<10}{result.latency_ms:>10.3f} ms")
    if result.tls_expires is not None:
        lines.append(f"  certificate expires {certificate_expiry(result.tls_expires, sample.ts)}")
    return "\n".join(lines)


def certificate_expiry(expires: float, now: float) -> str:
    when = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    days = math.floor((expires - now) / 86_400)
    return f"{when} (in {days} days)" if days >= 0 else f"{when} ({-days} days ago)"
