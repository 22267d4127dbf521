"""Who may read a customer's status page (and what shares its rules: the badges): the customer
asked for, and whether the caller may see its reports."""

from __future__ import annotations

from aiohttp import web

from slawatch.collector import links
from slawatch.collector.app import AUTH, CONFIG
from slawatch.collector.auth import UNAUTHORIZED_HEADERS
from slawatch.collector.errors import ApiError
from slawatch.config.contract import ID_PATTERN
from slawatch.config.schema import Config, Customer


def find_customer(config: Config, name: str) -> Customer | None:
    settings = config.collector
    if settings is None or not ID_PATTERN.fullmatch(name):
        return None
    return settings.customer(name)


def access(request: web.Request, name: str) -> tuple[Customer, bool]:
    """The customer whose status is asked and whether the caller may see its reports.

    404 for an unknown customer (and for another customer's token: as if it did not exist);
    for a private page, 401 without a known token and 403 for an agent's. A signed link
    (`slawatch.collector.links`) reads exactly the page it was made for; a wrong or expired one is a
    401."""
    customer = find_customer(request.app[CONFIG], name)
    if customer is None:
        raise ApiError(404, f"no status page {name[:128]!r}")
    principal = request.app[AUTH].of(request)
    privileged = principal is not None and (
        principal.kind == "admin" or (principal.kind == "customer" and principal.id == customer.id)
    )
    if privileged or customer.public_status:
        return customer, privileged
    signature = links.signed(request)
    if signature is not None:  # a link from an alert: this page, no report links
        if signature:
            return customer, False
        raise ApiError(401, links.REFUSED, headers=UNAUTHORIZED_HEADERS)
    if principal is None:
        raise ApiError(401, "missing or unknown bearer token", headers=UNAUTHORIZED_HEADERS)
    if principal.kind == "customer":
        raise ApiError(404, f"no status page {name[:128]!r}")
    raise ApiError(403, f"this token may not do this (it is a {principal.kind} token)")
