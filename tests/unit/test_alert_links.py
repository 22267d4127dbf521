"""Signed links (`slawatch.collector.links`): what a signature covers, when it stops working, the key
kept in the store; and where alerts point (`Links`): signed private pages, public ones as they
are, no admin-only page, the loopback for a wildcard listen address."""

from __future__ import annotations

from pathlib import Path

import pytest
from multidict import MultiDict
from yarl import URL

from slawatch.collector.alerts.pages import Links
from slawatch.collector.links import VALID_S, LinkSigner
from slawatch.collector.store import create_store
from slawatch.config.loader import parse_config

KEY = bytes(range(32))
NOW = 1_795_000_000.0


def query_of(link: str) -> MultiDict[str]:
    return MultiDict(URL(link).query)


def test_a_signature_covers_the_path_every_parameter_and_the_expiry() -> None:
    signer = LinkSigner(KEY)
    link = signer.sign("/api/v1/slas/shop/report", [("format", "html"), ("period", "2026-11")],
                       now=NOW)  # fmt: skip
    assert link.startswith("/api/v1/slas/shop/report?format=html&period=2026-11&expires=")
    query = query_of(link)
    assert query["expires"] == str(int(NOW + VALID_S))
    path = "/api/v1/slas/shop/report"
    assert signer.verify(path, query, now=NOW)
    reordered = MultiDict([(k, query[k]) for k in ("signature", "period", "expires", "format")])
    assert signer.verify(path, reordered, now=NOW)  # parameters in any order
    assert not signer.verify("/api/v1/slas/other/report", query, now=NOW)
    for name, value in (("format", "json"), ("period", "2026-10"), ("expires", "9999999999")):
        changed = query.copy()
        changed[name] = value
        assert not signer.verify(path, changed, now=NOW), name
    added = query.copy()
    added.add("from", "2026-01-01T00:00:00Z")
    assert not signer.verify(path, added, now=NOW)
    twice = query.copy()
    twice.add("signature", query["signature"])
    assert not signer.verify(path, twice, now=NOW)
    assert not LinkSigner(bytes(32)).verify(path, query, now=NOW)  # another collector's key


@pytest.mark.parametrize(
    ("expires", "signature"),
    [("", "0" * 64), ("-5", "0" * 64), ("1e12", "0" * 64), ("1" * 13, "0" * 64),
     ("1900000000", "A" * 64), ("1900000000", "0" * 63), ("1900000000", "xyz")],
)  # fmt: skip
def test_malformed_parameters_are_refused_not_an_error(expires: str, signature: str) -> None:
    query = MultiDict([("expires", expires), ("signature", signature)])
    assert LinkSigner(KEY).verify("/status/acme", query, now=NOW) is False


def test_a_link_works_until_it_expires() -> None:
    signer = LinkSigner(KEY)
    query = query_of(signer.sign("/status/acme", now=NOW, valid_s=60))
    assert signer.verify("/status/acme", query, now=NOW + 59.999)
    assert not signer.verify("/status/acme", query, now=NOW + 60)
    with pytest.raises(ValueError, match="expires or signature"):
        signer.sign("/status/acme", [("expires", "1")], now=NOW)
    with pytest.raises(RuntimeError, match="not loaded"):
        LinkSigner().sign("/status/acme", now=NOW)


async def test_the_key_is_made_once_and_kept(tmp_path: Path) -> None:
    store = create_store(tmp_path / "collector.db")
    await store.open()
    try:
        key = await store.link_key()
        assert len(key) == 32 and await store.link_key() == key
    finally:
        await store.close()
    other = create_store(tmp_path / "other.db")
    await other.open()
    reopened = create_store(tmp_path / "collector.db")
    await reopened.open()
    try:
        assert await reopened.link_key() == key  # links survive a restart
        assert await other.link_key() != key
    finally:
        await reopened.close()
        await other.close()


CONFIG = """
collector:
  listen: "{listen}"
  customers: [{{id: acme, name: ACME}}, {{id: initech, name: Initech, public_status: true}}]
checks:
  - {{id: web, url: "http://127.0.0.1:1/"}}
  - {{id: db, url: "http://127.0.0.1:1/"}}
  - {{id: site, url: "http://127.0.0.1:1/"}}
  - {{id: lone, url: "http://127.0.0.1:1/"}}
slas:
  - {{id: intranet, checks: [db, web], objective: 99}}
  - {{id: shop, customer: acme, checks: [web], objective: 99.9}}
  - {{id: site, customer: initech, checks: [site], objective: 99}}
"""


def links_for(listen: str, tmp_path: Path) -> Links:
    text = CONFIG.format(listen=listen)
    return Links(parse_config(text, base_dir=tmp_path, process="collector"), LinkSigner(KEY))


def test_alerts_point_at_pages_a_click_opens(tmp_path: Path) -> None:
    links = links_for("127.0.0.1:8480", tmp_path)
    now_ms = round(NOW * 1000)
    web = links.link(links.check("web"), now_ms)  # a customer's SLA wins over one without
    assert web is not None and web.startswith("http://127.0.0.1:8480/status/acme?expires=")
    assert LinkSigner(KEY).verify("/status/acme", query_of(web), now=NOW)
    db = links.link(links.check("db"), now_ms)
    assert db is not None and db.startswith(
        "http://127.0.0.1:8480/api/v1/slas/intranet/report?format=html&expires="
    )
    assert links.link(links.check("site"), now_ms) == "http://127.0.0.1:8480/status/initech"
    assert links.link(links.check("lone"), now_ms) is None
    assert links.link(links.check("unknown-to-the-config"), now_ms) is None
    assert not links.guessed


@pytest.mark.parametrize(
    ("listen", "base"),
    [("0.0.0.0:8480", "http://127.0.0.1:8480"), (":8480", "http://127.0.0.1:8480"),
     ("[::]:8480", "http://[::1]:8480")],
)  # fmt: skip
def test_a_wildcard_listen_address_links_to_the_loopback(
    listen: str, base: str, tmp_path: Path
) -> None:
    links = links_for(listen, tmp_path)
    assert (links.base, links.guessed) == (base, True)
    test_link = links.link(links.for_channel("ops"), round(NOW * 1000))
    assert test_link is not None and test_link.startswith(f"{base}/status/acme?expires=")


def test_a_test_message_links_to_a_page_the_channels_alerts_open(tmp_path: Path) -> None:
    """Issue 14: it pointed at /healthz, a JSON status line. It opens what the channel's alerts
    open: proof that the links' base reaches the collector and its pages open from there."""
    rules = """
alerts:
  channels:
    - {id: initech-chat, type: slack, url: "https://hooks.example/a"}
    - {id: intranet-chat, type: slack, url: "https://hooks.example/b"}
    - {id: spare, type: slack, url: "https://hooks.example/c"}
  rules:
    - {slas: [site], channels: [initech-chat]}
    - {checks: ["d*", "lone"], channels: [intranet-chat]}
"""
    text = CONFIG.format(listen="127.0.0.1:8480") + rules
    links = Links(parse_config(text, base_dir=tmp_path, process="collector"), LinkSigner(KEY))
    now_ms = round(NOW * 1000)
    assert links.link(links.for_channel("initech-chat"), now_ms) == (
        "http://127.0.0.1:8480/status/initech"  # public: as it is
    )
    intranet = links.link(links.for_channel("intranet-chat"), now_ms)
    assert intranet is not None and intranet.startswith(
        "http://127.0.0.1:8480/api/v1/slas/intranet/report?format=html&expires="
    )
    spare = links.link(links.for_channel("spare"), now_ms)  # no rule: a customer's page
    assert spare is not None and spare.startswith("http://127.0.0.1:8480/status/acme?expires=")
    bare = parse_config(
        'collector: {listen: "127.0.0.1:8480"}\n' + rules.replace("slas: [site]", "checks: [x]"),
        base_dir=tmp_path,
        process="collector",
    )
    assert Links(bare, LinkSigner(KEY)).for_channel("spare") is None  # nothing opens
