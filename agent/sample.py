"""A probe's outcome as the collector receives it (CONTRACT §3.1)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What a probe saw, before the scheduler stamps it with check, ts and interval."""

    ok: bool
    latency_ms: float | None
    error: str | None = None
    status_code: int | None = None
    phases_ms: Mapping[str, float] = field(default_factory=dict)
    tls_expires: float | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    check: str
    ts: float
    """Unix seconds (UTC) when the probe started."""
    interval_s: float
    type: str
    result: ProbeResult

    def to_json(self) -> dict[str, Any]:
        r = self.result
        return {
            "check": self.check,
            "ts": self.ts,
            "ok": r.ok,
            "latency_ms": r.latency_ms,
            "interval_s": self.interval_s,
            "type": self.type,
            "status_code": r.status_code,
            "error": r.error,
            "phases_ms": dict(r.phases_ms),
            "tls_expires": r.tls_expires,
        }
