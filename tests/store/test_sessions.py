"""Browser sessions and share links: found by the digest of their secret while valid, ended one
by one or by principal, share links revoked once."""

from __future__ import annotations

import hashlib

from slawatch.collector.store import BrowserSession, ShareLink, Store
from tests.store.support import HOUR_MS, T0, row


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def session(secret: str, kind: str = "customer", principal: str = "acme") -> BrowserSession:
    return BrowserSession(digest(secret), kind, principal, f"csrf-{secret}", T0, T0 + HOUR_MS)


async def test_a_session_is_found_until_it_expires(store: Store) -> None:
    await store.add_session(session("one"))
    assert await store.session(digest("one"), T0) == session("one")
    assert await store.session(digest("one"), T0 + HOUR_MS - 1) == session("one")
    assert await store.session(digest("one"), T0 + HOUR_MS) is None
    assert await store.session(digest("other"), T0) is None


async def test_sessions_end_one_by_one_or_by_principal_and_expired_ones_are_pruned(
    store: Store,
) -> None:
    for secret, kind, principal in [("a", "customer", "acme"), ("b", "customer", "acme"),
                                    ("c", "customer", "globex"), ("d", "admin", "admin")]:  # fmt: skip
        await store.add_session(session(secret, kind, principal))
    assert await store.delete_session(digest("a")) is True
    assert await store.delete_session(digest("a")) is False
    assert await store.delete_sessions("customer", "acme") == 1
    assert await store.session(digest("b"), T0) is None
    assert await store.session(digest("c"), T0) == session("c", "customer", "globex")
    assert await store.prune_sessions(T0 + HOUR_MS - 1) == 0
    assert await store.prune_sessions(T0 + HOUR_MS) == 2
    assert await store.session(digest("d"), T0) is None


async def test_a_share_link_opens_until_it_expires_or_is_revoked(store: Store) -> None:
    first = ShareLink("l1", "acme", T0, T0 + HOUR_MS)
    second = ShareLink("l2", "globex", T0 + 1, T0 + 2 * HOUR_MS)
    await store.add_share_link(first, digest("k1"))
    await store.add_share_link(second, digest("k2"))
    assert await store.share_link(digest("k1"), T0) == first
    assert await store.share_link(digest("k1"), T0 + HOUR_MS) is None
    assert await store.share_link(digest("nope"), T0) is None
    assert await store.share_links() == [second, first]
    assert await store.revoke_share_link("l2", T0 + 5) is True
    assert await store.revoke_share_link("l2", T0 + 6) is False
    assert await store.revoke_share_link("missing", T0) is False
    assert await store.share_link(digest("k2"), T0 + 10) is None
    assert await store.share_links() == [first]


async def test_a_checks_samples_come_newest_first_with_their_agent_and_phases(store: Store) -> None:
    await store.ingest("eu-1", [row(T0), row(T0 + 60_000, ok=False)], labels=None, now_ms=T0)
    await store.ingest("us-1", [row(T0 + 30_000), row(T0, check="db")], labels=None, now_ms=T0)
    found = await store.check_samples("web", T0, T0 + HOUR_MS, 10)
    assert [(agent, sample.ts_ms, sample.ok) for agent, sample in found] == [
        ("eu-1", T0 + 60_000, False), ("us-1", T0 + 30_000, True), ("eu-1", T0, True)
    ]  # fmt: skip
    assert all(sample.check == "web" for _, sample in found)
    assert len(await store.check_samples("web", T0, T0 + HOUR_MS, 2)) == 2
    assert await store.check_samples("web", T0 + 1, T0 + 30_000, 10) == []
