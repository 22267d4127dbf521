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
