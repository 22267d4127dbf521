"""The alerts about SLA budgets, judged on a slower pace than states (they read days): burn rate
(`burn`) and "objective breached" per SLA, and the weekly digest (`digest`).

Breached is the report's verdict (§4.8, `slawatch.collector.engine.verdict`): the period can no
longer meet its objective, its down time exceeding the error budget of the whole period,
whatever the availability so far; once per period.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

from slawatch.collector.alerts import burn, digest
from slawatch.collector.alerts.events import BurnRate, ObjectiveBreached
from slawatch.collector.alerts.outbox import Decision, Pass
from slawatch.collector.alerts.targets import Watch
from slawatch.collector.engine.maintenance import Interval
from slawatch.collector.engine.periods import current_window, period_label
from slawatch.collector.engine.sla import Report
from slawatch.collector.reports.shared import summaries
from slawatch.collector.store import OpenAlert, Store
from slawatch.config.schema import AlertRule, Config, Sla

BURN = "burn"


class BudgetAlerts:
    def __init__(self, store: Store, config: Config, watch: Watch) -> None:
        self.store = store
        self.config = config
        self.watch = watch

    async def budgets(
        self, work: Pass, open_alerts: Mapping[tuple[str, str, str], OpenAlert]
    ) -> None:
        """Burn rate and "objective breached" of every SLA a rule watches."""
        now_ms = work.now_ms
        watched = {
            sla.id: sla
            for _, rule in self.watch.rules
            for sla in map(self.config.sla, rule.slas)
            if sla is not None
        }
        periods = {
            found.report.sla.id: (found.period, found.report)
            for found in await summaries(self.store, list(watched.values()), now_ms)
        }
        breach_keys = {
            sla_id: f"breached:{sla_id}:{label}" for sla_id, (label, _) in periods.items()
        }
        for key, rule in self.watch.rules:
            for sla_id in rule.slas:
                sla = watched.get(sla_id)
                if sla is None:
                    continue
                if rule.burn_rate and rule.sends("burn_rate"):
                    await self._burn(work, (key, rule, sla), periods[sla.id], open_alerts)
                elif (key, f"sla:{sla.id}", BURN) in open_alerts:
                    work.closed.append((key, f"sla:{sla.id}", BURN))
        marked = await self.store.alert_marks(breach_keys.values())
        for _, rule in self.watch.rules:
            for sla_id in rule.slas:
                if sla_id not in periods or breach_keys[sla_id] in marked:
                    continue
                label, report = periods[sla_id]
                if report.verdict != "breached" or report.availability is None:
                    continue  # (a breached period has an availability: it has down time)
                sla = report.sla
                work.marks.append((breach_keys[sla_id], now_ms))
                if not rule.sends("objective_breached"):
                    continue
                event = ObjectiveBreached(
                    id="",
                    at=work.at,
                    subject=self.watch.sla_target(sla).subject,
                    period=label,
                    availability=report.availability,
                    objective=sla.objective,
                    down_s=report.down_ms / 1000,
                    budget_s=report.error_budget_s,
                    credit_percent=float(report.credit_percent),
                    link=self.watch.links.report_url(sla.id, label, now_ms),
                    measured_s=report.eligible_ms / 1000,
                    projected_availability=report.projected_availability,
                )
                subject = f"sla:{sla.id}"
                work.decisions.append(
                    Decision(event, (subject, "objective_breached", label), rule.channels, subject)
                )

    async def _burn(
        self,
        work: Pass,
        watch: tuple[str, AlertRule, Sla],
        period_report: tuple[str, Report],
        open_alerts: Mapping[tuple[str, str, str], OpenAlert],
    ) -> None:
        key, rule, sla = watch
        label, period = period_report
        subject = f"sla:{sla.id}"
        declared = await self.store.declared_maintenance([sla.id])
        intervals = [Interval(d.start_ms, d.end_ms) for d in declared]
        rates = await burn.rates(self.store, sla, rule.burn_rate, work.now_ms, intervals)
        check = burn.judge(rule.burn_rate, rates)
        row = open_alerts.get((key, subject, BURN))
        alert = burn.BurnAlert(**json.loads(row.state)) if row else None
        after, severity = burn.step(alert, check, work.now_ms)
        if after is None and row is not None:
            work.closed.append((key, subject, BURN))
        elif after is not None and after != alert:
            state = json.dumps(dataclasses.asdict(after), sort_keys=True)
            work.opened.append(OpenAlert(key, subject, BURN, state))
        if severity is None or after is None:
            return
        event = BurnRate(
            id="",
            at=work.at,
            subject=self.watch.sla_target(sla).subject,
            severity=severity,
            windows=check.windows,
            objective=sla.objective,
            period=label,
            budget_s=period.error_budget_s,
            budget_remaining_s=period.error_budget_remaining_s,
            link=self.watch.links.report_url(sla.id, label, work.now_ms),
        )
        opened_ms = after.page_ms if severity == "page" else after.ticket_ms
        decision_key = (subject, "burn_rate", severity, opened_ms)
        work.decisions.append(Decision(event, decision_key, rule.channels, subject))

    async def weekly_digest(self, work: Pass) -> None:
        settings = self.config.alerts.digest
        if settings is None or not self.config.slas:
            return
        found = digest.due(settings, work.now_ms)
        if found is None:
            return
        week, window = found
        mark = f"digest:{week}"
        if await self.store.alert_marks([mark]):
            return
        links = {}
        for sla in self.config.slas:
            period = current_window(sla.period, sla.timezone, work.now_ms)
            label = period_label(sla.period, period.from_ms, sla.timezone)
            links[sla.id] = self.watch.links.report_url(sla.id, label, work.now_ms)
        event = await digest.build(
            self.store,
            self.config.slas,
            week,
            window,
            work.now_ms,
            report_link=links,
            link=None,
            timezone=settings.timezone,
        )
        work.marks.append((mark, work.now_ms))
        work.decisions.append(Decision(event, ("digest", week), settings.channels, "digest"))
