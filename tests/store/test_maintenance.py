"""Maintenance windows declared at run time: stored with every SLA they cover, found by SLA and
overlap, deleted by id."""

from __future__ import annotations

from slawatch.collector.store import DeclaredMaintenance, Store
from tests.store.support import HOUR_MS, T0


async def test_a_declared_window_is_found_by_its_slas_and_by_overlap(store: Store) -> None:
    shop = await store.add_maintenance(["shop", "api", "shop"], T0, T0 + HOUR_MS, "upgrade",
                                       created_ms=T0 - 1)  # fmt: skip
    assert shop == DeclaredMaintenance(
        shop.id, ("api", "shop"), T0, T0 + HOUR_MS, "upgrade", T0 - 1
    )
    later = await store.add_maintenance(["db"], T0 + 2 * HOUR_MS, T0 + 3 * HOUR_MS, "disk",
                                        created_ms=T0)  # fmt: skip
    assert later.id != shop.id
    assert await store.declared_maintenance(["shop"]) == [shop]
    assert await store.declared_maintenance(["db", "api"]) == [shop, later]
    assert await store.declared_maintenance() == [shop, later]
    assert await store.declared_maintenance([]) == []
    assert await store.declared_maintenance(None, T0 + HOUR_MS, T0 + 2 * HOUR_MS) == []
    assert await store.declared_maintenance(None, T0 + HOUR_MS - 1, T0 + 2 * HOUR_MS + 1) == [
        shop, later,
    ]  # fmt: skip


async def test_a_deleted_window_is_gone_and_a_second_delete_finds_nothing(store: Store) -> None:
    window = await store.add_maintenance(["shop"], T0, T0 + HOUR_MS, "upgrade", created_ms=T0)
    assert await store.delete_maintenance(window.id) is True
    assert await store.declared_maintenance(["shop"]) == []
    assert await store.delete_maintenance(window.id) is False
    assert await store.delete_maintenance(window.id + 1000) is False


async def test_an_exclusion_keeps_its_kind_and_category(store: Store) -> None:
    excluded = await store.add_maintenance(
        ["shop"], T0, T0 + HOUR_MS, "DNS change by the customer", created_ms=T0 + 5 * HOUR_MS,
        kind="exclusion", category="customer",
    )  # fmt: skip
    assert (excluded.kind, excluded.category) == ("exclusion", "customer")
    planned = await store.add_maintenance(["shop"], T0, T0 + 1, "upgrade", created_ms=T0)
    assert (planned.kind, planned.category) == ("maintenance", None)
    assert await store.declared_maintenance(["shop"]) == [excluded, planned]


async def test_every_declaration_and_deletion_is_audited_and_deleted_windows_stay(
    store: Store,
) -> None:
    first = await store.add_maintenance(
        ["shop", "api"], T0, T0 + HOUR_MS, "outage caused by the customer", created_ms=T0 + 1,
        kind="exclusion", category="customer", principal=("admin", "admin"),
    )  # fmt: skip
    second = await store.add_maintenance(["db"], T0, T0 + HOUR_MS, "disk", created_ms=T0 + 2)
    assert await store.delete_maintenance(first.id, at_ms=T0 + 3, principal=("admin", "ops"))
    assert not await store.delete_maintenance(first.id, at_ms=T0 + 4)
    log = await store.audit_log()
    assert [(e.action, e.at_ms, e.principal_kind, e.principal_id, e.window.id) for e in log] == [
        ("delete", T0 + 3, "admin", "ops", first.id),
        ("declare", T0 + 2, "admin", "admin", second.id),
        ("declare", T0 + 1, "admin", "admin", first.id),
    ]
    assert log[0].window == first  # the deleted window, whole
    assert await store.declared_maintenance(["shop"]) == []
    assert [e.window.id for e in await store.audit_log(["api"])] == [first.id, first.id]
    assert [e.window.id for e in await store.audit_log(["db", "x"])] == [second.id]
    assert await store.audit_log(["sho"]) == []
    assert await store.audit_log([]) == []
    assert len(await store.audit_log(limit=1)) == 1
