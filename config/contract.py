"""Constants of CONTRACT.md that the agent, the collector and the config loader all rely on."""

import re

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
"""Ids of checks, agents, SLAs, customers, channels and rules (CONTRACT §4.7); match it fully."""

DEFAULT_LISTEN = "127.0.0.1:8480"
DEFAULT_INTERVAL_S = 60.0
MAX_INTERVAL_S = 86_400.0
MAX_DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_SAMPLE_AGE_S = 45 * 86_400.0
RAW_RETENTION_MARGIN_S = 86_400.0
"""Raw samples are kept `max_sample_age` plus this (46 d by default), never less than
`max_sample_age`: a late sample is placed among the raw samples around it."""
DEFAULT_ROLLUP_RETENTION_S = 400 * 86_400.0
DEFAULT_SPOOL_MAX_SAMPLES = 1_000_000
DEFAULT_SPOOL_MAX_AGE_S = 45 * 86_400.0
DEFAULT_ALERT_MAX_AGE_S = 86_400.0

MAX_FUTURE_S = 300.0
"""A sample's ts may be at most this far ahead of the collector's clock."""
MAX_BATCH_SAMPLES = 10_000
MAX_BODY_BYTES = 10 * 1024 * 1024
"""Request bodies, also after gzip decompression."""
SHIP_BATCH_SAMPLES = 1_000
"""What an agent sends in one push."""
STATE_CHANGE_HEADER = "X-Slawatch-State-Change"
"""An agent sends it (value `1`) with a push that carries a check's change of state: a busy
collector lets such a push ahead of the others."""
LABELS_HEADER = "X-Slawatch-Labels"
"""An agent asking for its central checks sends its labels here, as a JSON object."""
MAX_PUSH_BACKOFF_S = 30.0
"""The longest an agent waits between two push attempts after failures (its backoff's cap; a
`Retry-After` aside): a collector that starts again hears from every live agent within it (most
within a few seconds: agents ask /healthz while the collector cannot be reached)."""
BODY_READ_LIMIT_BYTES = 1024 * 1024
"""How much of an HTTP response body a probe reads for body_contains/body_regex."""

MAX_LABELS = 64
MAX_LABEL_LENGTH = 256
"""An agent's labels (sent with every batch): at most this many, names and values this long."""

PHASES = ("dns", "connect", "tls", "ttfb", "transfer")

QUORUM_WORDS = ("any", "majority", "all")
REQUIRE_WORDS = ("all", "any")
UNKNOWN_WORDS = ("exclude", "up", "down")
PERIOD_WORDS = ("month", "week", "day")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
