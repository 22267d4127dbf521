"""The JSON bodies of the reports' routes (`reports.routes`, `reports.accounting`) as typed
models: the OpenAPI document's schemas are generated from them (`slawatch.collector.jsonschema`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, TypedDict

from slawatch.collector.engine.verdict import Verdict
from slawatch.collector.jsonschema import INLINE, Schema
from slawatch.collector.routing import Id, Instant
from slawatch.collector.store import EXCLUSION_CATEGORIES

MAX_REASON_CHARS = 1000

Kind = Literal["maintenance", "exclusion"]
Category = Annotated[str | None, Schema(enum=[*EXCLUSION_CATEGORIES, None])]


class Figures(TypedDict):
    """`Report.figures_json`: the properties a report and an SLA's summary share."""

    from_: Instant
    to: Instant
    as_of: Instant
    objective: float
    up_s: float
    down_s: float
    unknown_s: float
    maintenance_s: Annotated[
        float,
        Schema(description="maintenance and exclusions inside service hours, up to `as_of`"),
    ]
    outside_hours_s: Annotated[
        float,
        Schema(
            description="time up to `as_of` outside the SLA's service hours or on its holidays "
            "(§7), removed like maintenance; 0 for a 24×7 SLA"
        ),
    ]
    eligible_s: float
    availability: float | None
    met: bool | None
    error_budget_s: float
    error_budget_remaining_s: float
    credit_percent: Annotated[
        float,
        Schema(
            description="complete: the tier of `availability`; in progress: the tier of "
            "`projected_availability`, the credit already certain (§4.8)"
        ),
    ]
    credit_amount: Annotated[
        float | None,
        Schema(
            description="`credit_percent` of the SLA's `monthly_fee` prorated to the window, "
            "rounded half-even to the currency's minor unit; null without a fee (§7)"
        ),
    ]
    currency: Annotated[str | None, Schema(description="ISO 4217 code of the fee")]
    missing_checks: list[str]
    complete: Annotated[bool, Schema(description="`as_of` is `to`: the window is over")]
    future_s: Annotated[
        float,
        Schema(
            description="the window after `as_of`, less its maintenance: what the error budget "
            "and the projection count as still to come"
        ),
    ]
    projected_availability: Annotated[
        float | None,
        Schema(
            description="100 · (up_s + future_s) / (eligible_s + future_s): the availability "
            "if the rest of the window is up; `availability` once complete"
        ),
    ]
    verdict: Annotated[
        Verdict,
        Schema(
            description="complete: met | breached (by `availability`); in progress: on_track "
            "(at least 25 % of the error budget left), at_risk (less), breached (budget "
            "overspent: the objective can no longer be met); no_data when both availabilities "
            "are null"
        ),
    ]


class Incident(TypedDict):
    start: Instant
    end: Annotated[Instant | None, Schema(description="null while the outage goes on now")]
    duration_s: Annotated[float, Schema(minimum=0)]
    run_start: Instant
    run_end: Instant | None
    checks: list[str]
    error: str | None


class Latency(TypedDict):
    count: Annotated[int, Schema(minimum=0)]
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    objective_ms: float | None
    objective_percentile: NotRequired[float | None]
    met: bool | None


class MaintenanceWindow(TypedDict):
    id: Annotated[int | None, Schema(description="null for a config window")]
    source: Literal["declared", "config"]
    slas: list[str]
    start: Instant
    end: Instant
    duration_s: NotRequired[float]
    reason: str
    created: NotRequired[Instant | None]
    kind: NotRequired[Kind]
    category: NotRequired[Category]


class MaintenanceDeclaration(TypedDict):
    """Exactly one of `sla` and `slas`. `end` after `start`, at most 366 days. `"kind":
    "exclusion"` declares time the contract excludes after the fact (CONTRACT §7: counted as
    maintenance, listed apart): it needs a `reason` and a `category`. Every declaration and
    deletion is kept in the audit log (`GET /api/v1/audit`)."""

    sla: NotRequired[Id]
    slas: NotRequired[Annotated[list[Id], Schema(min_items=1)]]
    start: Instant
    end: Instant
    reason: NotRequired[Annotated[str | None, Schema(max_length=MAX_REASON_CHARS)]]
    kind: NotRequired[Annotated[Kind, Schema(default="maintenance")]]
    category: NotRequired[
        Annotated[
            str,
            Schema(
                enum=list(EXCLUSION_CATEGORIES),
                description="an exclusion's: customer (caused by the customer), "
                "force_majeure, third_party or other",
            ),
        ]
    ]


class _ReportHead(TypedDict):
    sla: str
    customer: str | None
    name: str
    period: NotRequired[str | None]


class Report(_ReportHead, Figures):
    """CONTRACT §4.6"""

    latency: Latency
    incidents: list[Incident]
    maintenance: NotRequired[list[MaintenanceWindow]]
    exclusions: NotRequired[
        Annotated[
            list[MaintenanceWindow],
            Schema(
                description="time excluded after the fact (CONTRACT §7), counted in "
                "`maintenance_s`, with its reason and category"
            ),
        ]
    ]


class _SummaryHead(TypedDict):
    id: str
    name: str
    customer: str | None
    period: str


class SlaSummary(_SummaryHead, Figures):
    error_budget_remaining_ratio: float | None
    state: Literal["up", "down", "unknown"]
    open_incident: Incident | None


class SlaList(TypedDict):
    now: Instant
    slas: list[SlaSummary]


class IncidentOfSla(Incident):
    sla: str
    customer: str | None
    name: str


class IncidentList(TypedDict):
    incidents: list[Annotated[IncidentOfSla, INLINE]]
    windows: list[dict[str, Any]]


class MaintenanceList(TypedDict):
    maintenance: list[MaintenanceWindow]


class Credit(TypedDict):
    customer: str | None
    sla: str
    availability: float | None
    verdict: str
    credit_percent: float
    credit_amount: Annotated[
        float | None,
        Schema(
            description="monthly_fee prorated to the period × credit_percent / 100, rounded "
            "half-even to the currency's minor unit; null without a fee"
        ),
    ]
    currency: Annotated[str | None, Schema(description="ISO 4217")]


class CreditList(TypedDict):
    period: str
    credits: list[Credit]


class AuditPrincipal(TypedDict, total=False):
    """who did it: the token's role and name, never the token"""

    role: str
    name: str


class AuditedWindow(TypedDict, total=False):
    id: int
    kind: Kind
    category: Category
    slas: list[str]
    start: Instant
    end: Instant
    reason: str
    created: Instant


class AuditEntry(TypedDict):
    id: int
    time: Instant
    action: Literal["declare", "delete"]
    principal: Annotated[AuditPrincipal, INLINE]
    window: Annotated[AuditedWindow, INLINE]


class AuditLog(TypedDict):
    audit: list[AuditEntry]
