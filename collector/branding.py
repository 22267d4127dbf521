"""A customer's brand (`customers[].brand`: logo and accent colour) on the pages it sees: its
status page and its reports. The values are validated by the config (`parse_logo_url`,
`parse_css_colour`), so the accent can go into a style sheet and the logo's origin into the
Content-Security-Policy as they are."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from slawatch.config.schema import Brand


def logo_origin(brand: Brand | None) -> str | None:
    if brand is None or brand.logo_url is None:
        return None
    parts = urlsplit(brand.logo_url)
    return f"{parts.scheme}://{parts.netloc}"


def with_logo(headers: Mapping[str, str], brand: Brand | None) -> dict[str, str]:
    """`headers` whose Content-Security-Policy also allows the brand's logo, and only it."""
    found = dict(headers)
    origin = logo_origin(brand)
    if origin is not None:
        found["Content-Security-Policy"] += f"; img-src {origin}"
    return found
