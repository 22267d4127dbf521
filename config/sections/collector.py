"""`collector:` — where the collector listens and stores, and who may talk to it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit

from slawatch.config import contract
from slawatch.config.keys import Key, Kind, Table
from slawatch.config.reader import INVALID, KeyPath, Reader
from slawatch.config.schema import (
    AgentCredential,
    Brand,
    CollectorConfig,
    Customer,
    ReportTo,
    Retention,
    TokenDigest,
)
from slawatch.config.values import (
    BOOLEAN,
    COUNT,
    DATABASE,
    EMAIL_ADDRESSES,
    FILE_PATH,
    HOST_PORT,
    HTTP_URL,
    ID,
    LABELS,
    MAPPING,
    MAPPINGS,
    POSITIVE_DURATION,
    SECRET_TEXT,
    SECRET_URL,
    TEXT,
    format_duration,
    parse_http_url,
)

MIN_TOKEN_CHARS = 16
MAX_PROVIDER_CHARS = 100
"""`collector.provider`: a name for a page header, not a paragraph."""

WEAK_TOKENS = (
    *("password", "passw0rd", "password1", "admin", "administrator", "root", "secret", "token"),
    *("changeme", "change-me", "changeit", "letmein", "welcome", "default", "test", "guest"),
    *("qwerty", "azerty", "abc123", "iloveyou", "monkey", "dragon", "master", "slawatch"),
    *("123456", "1234567", "12345678", "123456789", "1234567890", "111111", "000000", "654321"),
    *("0123456789abcdef", "changemechangeme", "passwordpassword", "secretsecretsecret"),
)
"""Tokens anyone would try first. A `token_sha256` of one of them is refused: the digest hides
nothing (sha256("password") is on every list), so the collector would accept `Bearer password`."""
_WEAK_DIGESTS = frozenset(hashlib.sha256(token.encode()).digest() for token in WEAK_TOKENS)
_MAKE_ONE = "make one with `openssl rand -hex 32`"


def parse_provider(value: object) -> str:
    """A name shown on reports and status pages: one line of 1 to 100 characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string, like Example Hosting")
    name = value.strip()
    if len(name) > MAX_PROVIDER_CHARS:
        raise ValueError(f"must be at most {MAX_PROVIDER_CHARS} characters")
    if any(not character.isprintable() for character in name):
        raise ValueError("must be one line of printable characters")
    return name


_CSS_HEX = re.compile(r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_CSS_FUNCTION = re.compile(r"(?:rgb|rgba|hsl|hsla)\([0-9.%, /deg]{1,60}\)")
_PLAIN_HOST = re.compile(r"[A-Za-z0-9.-]+(?::[0-9]{1,5})?")


def parse_css_colour(value: object) -> str:
    """A CSS colour written as `#rgb`, `#rrggbb` (with alpha too), or `rgb()`/`hsl()` of
    numbers: nothing else can reach a page's style sheet."""
    text = value.strip() if isinstance(value, str) else None
    if text is None or not (_CSS_HEX.fullmatch(text) or _CSS_FUNCTION.fullmatch(text)):
        raise ValueError("must be a CSS colour such as #0a7d5a or rgb(10 125 90)")
    return text


def parse_logo_url(value: object) -> str:
    """An http(s) URL of an image, its host plain (the pages' CSP names its origin)."""
    url = parse_http_url(value)
    netloc = urlsplit(url).netloc
    if not _PLAIN_HOST.fullmatch(netloc) or any(c in url for c in "\"' <>;,"):
        raise ValueError("must be an http:// or https:// URL of a plain host, without quotes")
    return url


TOKEN = Kind(f"string, {MIN_TOKEN_CHARS}+ characters")
TOKEN_SHA256 = Kind("64 hexadecimal digits")


def token_keys(name: str, doc: str, *, required: bool = False) -> tuple[Key, Key]:
    """A token given plain, or as the SHA-256 of it (so the file holds no usable secret)."""
    either = f" Give `{name}` or `{name}_sha256`." if required else ""
    return (
        Key(name, TOKEN, doc + either, secret=True, example="${EU1_TOKEN}"),
        Key(
            f"{name}_sha256",
            TOKEN_SHA256,
            f"The SHA-256 of the token, in hex, instead of `{name}` "
            '(`printf %s "$TOKEN" | sha256sum`).',
            secret=True,
            example="${EU1_TOKEN_SHA256}",
        ),
    )


AGENT = Table(
    (
        Key(
            "id",
            ID,
            "The agent's id, as its own file says in `agent.id`.",
            required=True,
            example="eu-1",
        ),
        *token_keys(
            "token", "The token the agent pushes with; it may push only as this id.", required=True
        ),
        Key(
            "labels",
            LABELS,
            "Labels the collector gives this agent for the `labels` selectors of `checks:`, "
            "over those the agent sends (`agent.labels`).",
            default={},
            example="{region: eu}",
        ),
    )
)
REPORT_TO = Table(
    (
        Key(
            "email",
            EMAIL_ADDRESSES,
            "Who gets each closed period's report by e-mail (an HTML body, the CSV and JSON "
            "attached), through `reports.smtp`.",
            example="[sla@acme.example]",
        ),
        Key(
            "webhook",
            SECRET_URL,
            "Where a signed `period_closed` event carrying the report is POSTed (signed as "
            "an alert `webhook` channel's events are).",
            secret=True,
            example="${ACME_REPORTS_HOOK}",
        ),
        Key(
            "secret",
            SECRET_TEXT,
            "The HMAC-SHA256 key the webhook's receiver checks signatures with; required with "
            "`webhook`.",
            secret=True,
            example="${ACME_REPORTS_SECRET}",
        ),
    )
)
BRAND = Table(
    (
        Key(
            "logo_url",
            Kind("URL (http, https)", parse_logo_url),
            "An image shown at the top of the status page and reports; the pages' "
            "Content-Security-Policy allows its origin.",
            example="https://acme.example/logo.svg",
        ),
        Key(
            "accent",
            Kind("CSS colour", parse_css_colour),
            "The accent colour of the status page and reports: `#rgb`, `#rrggbb` or "
            "`rgb()`/`hsl()` of numbers.",
            example="#0a7d5a",
        ),
    )
)
CUSTOMER = Table(
    (
        Key(
            "id",
            ID,
            "The customer's id, named by `slas[].customer`.",
            required=True,
            example="acme",
        ),
        Key(
            "name",
            TEXT,
            "Shown on the status page and reports.",
            default_doc="the id",
            example="ACME Corp",
        ),
        *token_keys(
            "token", "Reads this customer's SLAs, reports and status page, and nothing else."
        ),
        Key(
            "public_status",
            BOOLEAN,
            "`/status/<id>` readable without a token.",
            default=False,
        ),
        Key(
            "report_to",
            MAPPING,
            "Where the customer's reports go when a period closes (after `reports.delay`): "
            "once per SLA and period, durably, listed in `/api/v1/notifications`.",
            table=REPORT_TO,
        ),
        Key(
            "brand",
            MAPPING,
            "The customer's look on its status page and reports.",
            table=BRAND,
        ),
    )
)
RETENTION = Table(
    (
        Key(
            "raw",
            POSITIVE_DURATION,
            "How long raw samples are kept. Shorter than `max_sample_age` is allowed, with a "
            "warning at start: a sample that late then keeps its run whole.",
            default_doc="max_sample_age + 1d",
            example="90d",
        ),
        Key(
            "rollups",
            POSITIVE_DURATION,
            "How long state runs and hourly rollups (what reports read) are kept.",
            default=format_duration(contract.DEFAULT_ROLLUP_RETENTION_S),
            example="800d",
        ),
    )
)
TABLE = Table(
    (
        Key(
            "listen",
            HOST_PORT,
            "Where the HTTP API listens: `host:port`, `[v6]:port`, or `:port` for every interface.",
            default=contract.DEFAULT_LISTEN,
        ),
        Key(
            "database",
            DATABASE,
            "The SQLite file, created with its folders if missing; or a PostgreSQL database,"
            " `postgresql://user@host:5432/db` (password in the URL through `${ENV}`, or in"
            " `~/.pgpass`; never logged), which several collectors may share (README: Scaling"
            " out).",
            default_doc="data/slawatch.db beside the config file",
        ),
        Key(
            "evidence_key",
            FILE_PATH,
            "The Ed25519 private key that signs evidence bundles (CONTRACT §7): made there at "
            "the first start (mode 0600), kept and backed up with the database. Collectors "
            "sharing a PostgreSQL database should share one key file.",
            default_doc="`<database>.evidence-key` beside the SQLite database; with a database "
            "URL, a key made for each process (bundles then name different keys)",
            example="/var/lib/slawatch/evidence.key",
        ),
        Key(
            "max_sample_age",
            POSITIVE_DURATION,
            "Samples older than this are refused (400).",
            default=format_duration(contract.DEFAULT_MAX_SAMPLE_AGE_S),
            example="30d",
        ),
        *token_keys(
            "admin_token",
            "The admin token: may do everything. Empty (`${SLAWATCH_ADMIN_TOKEN:-}`): no admin "
            "access.",
        ),
        Key("agents", MAPPINGS, "Who may push samples.", table=AGENT),
        Key(
            "customers",
            MAPPINGS,
            "Who may read their own SLAs and status page.",
            table=CUSTOMER,
        ),
        Key("retention", MAPPING, "How long the store keeps what.", table=RETENTION),
        Key(
            "public_url",
            HTTP_URL,
            "How people reach this collector: the base of the links in alerts.",
            default_doc="http://<listen>",
            example="https://sla.example-hosting.com",
        ),
        Key(
            "provider",
            Kind(f"string, 1–{MAX_PROVIDER_CHARS} characters", parse_provider),
            "Your name on reports and status pages.",
            default_doc='the host of public_url, else "slawatch"',
            example="Example Hosting",
        ),
        *token_keys(
            "metrics_token",
            "When set, `/metrics` needs this bearer token (or the admin token); it opens nothing "
            "else.",
        ),
        Key(
            "max_connections",
            COUNT,
            "HTTP connections kept open at most; lowered at start to what the open-file limit "
            "leaves room for. At the cap the longest-idle connection is closed for a newcomer; "
            "when all are busy the newcomer gets 503 with Retry-After.",
            default_doc="10000",
            example="2000",
        ),
    )
)
KEY = Key(
    "collector",
    MAPPING,
    "The central collector: ingest API, store, SLA engine, alerts, status pages. Required by "
    "`slawatch collector`, `up` and `report`.",
    table=TABLE,
)


def read(reader: Reader, value: Any) -> CollectorConfig:
    path: KeyPath = ("collector",)
    data = reader.table(value, path, TABLE)
    take = TABLE.key
    database = reader.resolve_path(reader.take(data, take("database"), path))
    max_sample_age = reader.take(data, take("max_sample_age"), path)
    return CollectorConfig(
        listen=reader.take(data, take("listen"), path),
        database=reader.base_dir / "data" / "slawatch.db" if database is None else database,
        max_sample_age=max_sample_age,
        admin_token=read_token(reader, data, path, "admin_token"),
        agents=reader.items(
            data.get("agents"), (*path, "agents"), lambda v, p: _agent(reader, v, p)
        ),
        customers=reader.items(
            data.get("customers"), (*path, "customers"), lambda v, p: _customer(reader, v, p)
        ),
        retention=_retention(reader, data.get("retention"), (*path, "retention"), max_sample_age),
        public_url=reader.take(data, take("public_url"), path),
        provider=reader.take(data, take("provider"), path),
        metrics_token=read_token(reader, data, path, "metrics_token"),
        max_connections=reader.take(data, take("max_connections"), path),
        evidence_key=reader.resolve_path(reader.take(data, take("evidence_key"), path)),
    )


def _retention(reader: Reader, value: Any, path: KeyPath, max_sample_age: float) -> Retention:
    """Raw samples are kept by default as long as a late sample may arrive (a late sample is
    placed among its neighbours' raw samples); a shorter `raw` is the user's choice, and the
    collector warns at start."""
    data = reader.table(value, path, RETENTION)
    floor = max_sample_age if max_sample_age is not INVALID else 0.0
    return Retention(
        raw=reader.take(
            data, RETENTION.key("raw"), path, default=floor + contract.RAW_RETENTION_MARGIN_S
        ),
        rollups=reader.take(data, RETENTION.key("rollups"), path),
    )


def _agent(reader: Reader, value: Any, path: KeyPath) -> AgentCredential:
    data = reader.table(value, path, AGENT)
    return AgentCredential(
        id=reader.take(data, AGENT.key("id"), path),
        # None only with a problem recorded, and then the whole file is refused
        token=cast(TokenDigest, read_token(reader, data, path, "token", required=True)),
        labels=reader.take(data, AGENT.key("labels"), path),
    )


def _customer(reader: Reader, value: Any, path: KeyPath) -> Customer:
    data = reader.table(value, path, CUSTOMER)
    customer_id = reader.take(data, CUSTOMER.key("id"), path)
    return Customer(
        id=customer_id,
        name=reader.take(data, CUSTOMER.key("name"), path, default=customer_id),
        token=read_token(reader, data, path, "token"),
        public_status=reader.take(data, CUSTOMER.key("public_status"), path),
        report_to=None
        if data.get("report_to") is None
        else _report_to(reader, data["report_to"], (*path, "report_to")),
        brand=_brand(reader, data.get("brand"), (*path, "brand")),
    )


def _brand(reader: Reader, value: Any, path: KeyPath) -> Brand | None:
    if value is None:
        return None
    data = reader.table(value, path, BRAND)
    return Brand(
        logo_url=reader.take(data, BRAND.key("logo_url"), path),
        accent=reader.take(data, BRAND.key("accent"), path),
    )


def _report_to(reader: Reader, value: Any, path: KeyPath) -> ReportTo:
    data = reader.table(value, path, REPORT_TO)
    key = REPORT_TO.key
    webhook = reader.take(data, key("webhook"), path)
    secret = reader.take(data, key("secret"), path)
    if data.get("webhook") is not None and data.get("secret") is None:
        reader.fail((*path, "secret"), "is required with webhook: its events are signed")
    email = reader.take(data, key("email"), path)
    return ReportTo(email=tuple(email or ()), webhook=webhook, secret=secret)


def read_token(
    reader: Reader, data: Mapping[str, Any], path: KeyPath, key: str, *, required: bool = False
) -> TokenDigest | None:
    """A token given plain (`token`) or as its SHA-256 (`token_sha256`); kept as a digest.
    Short and well-known tokens are refused in either form."""
    plain, hashed = data.get(key), data.get(f"{key}_sha256")
    if plain is not None and hashed is not None:
        reader.fail((*path, key), f"give {key} or {key}_sha256, not both")
        return None
    if hashed is not None:
        if (*path, f"{key}_sha256") in reader.unresolved:
            return None
        if not isinstance(hashed, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", hashed.strip()):
            reader.fail((*path, f"{key}_sha256"), "must be 64 hexadecimal digits")
            return None
        digest = TokenDigest(bytes.fromhex(hashed.strip()))
        if digest.sha256 in _WEAK_DIGESTS:
            reader.fail(
                (*path, f"{key}_sha256"),
                f"is the SHA-256 of a well-known password, which anyone can push with: {_MAKE_ONE}",
            )
        return digest
    if (*path, key) in reader.unresolved:
        return None  # unset where this process does not read
    if plain == "" and not required:
        return None  # `${VAR:-}`: deliberately no token, so no access of this kind
    if plain is None or plain == "":
        if required:
            reader.fail((*path, key), f"is required (or {key}_sha256)")
        return None
    if not isinstance(plain, str):
        reader.fail((*path, key), "must be a string")
        return None
    if len(plain) < MIN_TOKEN_CHARS:
        reader.fail((*path, key), f"is too short: use at least {MIN_TOKEN_CHARS} characters")
    elif plain in WEAK_TOKENS:
        reader.fail((*path, key), f"is a well-known placeholder, not a secret: {_MAKE_ONE}")
    return TokenDigest.of(plain)
