"""The pages' rules over plain HTTP, on a real collector with the crafted scene of
`tests.pages_scene`: who reaches which page (every route × every principal), sign-in and out,
CSRF, the rate limit of failed sign-ins, share links, the admin actions' confirmation step and
branding. What the pages show is checked in Chromium (`tests/e2e/test_pages_browser.py`)."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from slawatch.collector.app import CLOCK
from slawatch.collector.main import Collector
from slawatch.collector.pages.sessions import MAX_FAILURES
from slawatch.config.loader import parse_config
from slawatch.config.reader import ConfigError
from tests.pages_scene import ACME, ADMIN, AGENTS, GLOBEX, NOW, config_text, served
from tests.support import auth

AGENT = AGENTS["eu-1"]


@dataclass
class Site:
    collector: Collector
    url: str
    keys: dict[str, str]
    """customer → the key of a share link to its pages."""


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with served(tmp_path) as collector:
        keys = {}
        async with aiohttp.ClientSession() as session:
            for customer in ("acme", "globex"):
                async with session.post(
                    f"{collector.url}/api/v1/share-links", headers=auth(ADMIN),
                    json={"customer": customer, "expires": "2026-11-20T00:00:00Z"},
                ) as response:  # fmt: skip
                    assert response.status == 201, await response.text()
                    keys[customer] = (await response.json())["url"].split("key=")[1]
        yield Site(collector, collector.url, keys)


async def sign_in(session: aiohttp.ClientSession, url: str, token: str) -> aiohttp.ClientResponse:
    async with session.get(f"{url}/login") as response:
        csrf = re.search(r'name="csrf" value="([^"]+)"', await response.text())
    assert csrf
    return await session.post(
        f"{url}/login", data={"csrf": csrf.group(1), "token": token, "next": ""},
        allow_redirects=False,
    )  # fmt: skip


def browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def page_csrf(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url) as response:
        assert response.status == 200
        found = re.search(r'name="csrf" value="([^"]+)"', await response.text())
    assert found and found.group(1)
    return found.group(1)


# ---------------------------------------------------------------------------- who sees what

PRINCIPALS = ("nobody", "admin", "acme", "globex", "agent",
              "admin-session", "acme-session", "globex-session", "acme-share", "globex-share")  # fmt: skip
ROUTES = {
    # route: expected status per principal, in the order of PRINCIPALS
    "/":                                           (303, 200, 403, 403, 403, 200, 403, 403, 303, 303),
    "/checks/web":                                 (303, 200, 403, 403, 403, 200, 403, 403, 303, 303),
    "/admin":                                      (303, 200, 403, 403, 403, 200, 403, 403, 303, 303),
    "/status/acme":                                (401, 200, 200, 404, 403, 200, 200, 404, 200, 404),
    "/status/umbrella":                            (200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "/api/v1/status/acme":                         (401, 200, 200, 404, 403, 200, 200, 404, 200, 404),
    "/badge/acme-web/availability.svg":            (401, 200, 200, 404, 403, 200, 200, 404, 200, 404),
    "/badge/acme-db/status.svg":                   (401, 200, 200, 404, 403, 200, 200, 404, 200, 404),
    "/badge/umbrella-web/status.svg":              (200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "/badge/nope/status.svg":                      (404, 404, 404, 404, 404, 404, 404, 404, 404, 404),
    "/api/v1/slas/acme-web/report?format=html":    (401, 200, 200, 404, 403, 200, 200, 404, 200, 404),
    "/api/v1/slas/acme-web/report":                (401, 200, 200, 404, 403, 200, 200, 404, 200, 404),
    "/api/v1/slas":                                (401, 200, 200, 200, 403, 200, 200, 200, 401, 401),
    "/api/v1/share-links":                         (401, 200, 403, 403, 403, 200, 403, 403, 401, 401),
    "/api/v1/checks":                              (401, 200, 403, 403, 403, 200, 403, 403, 401, 401),
}  # fmt: skip


async def test_every_route_answers_every_principal_as_its_rules_say(site: Site) -> None:
    tokens = {"admin": ADMIN, "acme": ACME, "globex": GLOBEX, "agent": AGENT}
    sessions = {}
    for who, token in (("admin", ADMIN), ("acme", ACME), ("globex", GLOBEX)):
        sessions[who] = browser()
        response = await sign_in(sessions[who], site.url, token)
        assert response.status == 303
    plain = aiohttp.ClientSession()
    try:
        for route, expected in ROUTES.items():
            for principal, status in zip(PRINCIPALS, expected, strict=True):
                session, headers, url = plain, {}, f"{site.url}{route}"
                if principal in tokens:
                    headers = auth(tokens[principal])
                elif principal.endswith("-session"):
                    session = sessions[principal.removesuffix("-session")]
                elif principal.endswith("-share"):
                    key = site.keys[principal.removesuffix("-share")]
                    url += ("&" if "?" in url else "?") + f"key={key}"
                async with session.get(url, headers=headers, allow_redirects=False) as response:
                    assert response.status == status, (route, principal, await response.text())
                    if status == 303:
                        assert response.headers["Location"].startswith("/login?next=")
    finally:
        await plain.close()
        for session in sessions.values():
            await session.close()


async def test_a_session_cookie_never_changes_anything_through_the_api(site: Site) -> None:
    async with browser() as session:
        assert (await sign_in(session, site.url, ADMIN)).status == 303
        for method, path, body in [
            ("POST", "/api/v1/maintenance", {"sla": "acme-web", "start": "2026-11-11T00:00:00Z",
                                             "end": "2026-11-11T01:00:00Z"}),
            ("POST", "/api/v1/share-links", {"customer": "acme", "expires": "2026-11-12T00:00:00Z"}),
            ("DELETE", "/api/v1/share-links/anything", None),
        ]:  # fmt: skip
            async with session.request(method, f"{site.url}{path}", json=body) as response:
                assert response.status == 401, path


# ---------------------------------------------------------------------------- sign-in


async def test_signing_in_sets_a_strict_http_only_cookie_and_signing_out_ends_the_session(
    site: Site,
) -> None:
    async with browser() as session:
        with capture_logs() as logs:
            response = await sign_in(session, site.url, ADMIN)
        assert response.status == 303 and response.headers["Location"] == "/"
        cookie = next(c for c in response.headers.getall("Set-Cookie") if "slawatch_session=" in c)
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
        assert ADMIN not in repr(logs)
        assert any(e["event"] == "signed_in" and e["principal"] == "admin" for e in logs)
        key = re.search(r"slawatch_session=([^;]+)", cookie).group(1)  # type: ignore[union-attr]
        async with session.get(f"{site.url}/", allow_redirects=False) as page:
            assert page.status == 200
        async with session.post(f"{site.url}/logout", data={"csrf": "wrong"}) as refused:
            assert refused.status == 403
        csrf = await page_csrf(session, f"{site.url}/logout")
        async with session.post(f"{site.url}/logout", data={"csrf": csrf},
                                allow_redirects=False) as out:  # fmt: skip
            assert out.status == 303 and out.headers["Location"] == "/login"
    async with (  # the old cookie opens nothing any more
        aiohttp.ClientSession() as replay,
        replay.get(f"{site.url}/", headers={"Cookie": f"slawatch_session={key}"},
                   allow_redirects=False) as response,
    ):  # fmt: skip
        assert response.status == 303


async def test_a_customer_signs_in_to_its_own_status_page(site: Site) -> None:
    async with browser() as session:
        response = await sign_in(session, site.url, ACME)
        assert response.headers["Location"] == "/status/acme"


async def test_an_agent_token_cannot_sign_in_and_a_wrong_one_is_refused(site: Site) -> None:
    async with browser() as session:
        for token in (AGENT, "not-a-token-at-all-0000"):
            response = await sign_in(session, site.url, token)
            assert response.status == 401
            assert "slawatch_session" not in response.cookies


async def test_a_sign_in_without_the_forms_csrf_value_is_refused(site: Site) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{site.url}/login", data={"token": ADMIN}) as response,
    ):
        assert response.status == 403
        assert "slawatch_session" not in response.cookies


async def test_failed_sign_ins_are_limited_per_address_with_retry_after(site: Site) -> None:
    async with browser() as session:
        for _ in range(MAX_FAILURES):
            assert (await sign_in(session, site.url, "wrong-token-000000000")).status == 401
        limited = await sign_in(session, site.url, ADMIN)  # even the right token must wait
        assert limited.status == 429
        assert int(limited.headers["Retry-After"]) > 0
        site.collector.app[CLOCK].now += 301  # type: ignore[attr-defined]
        assert (await sign_in(session, site.url, ADMIN)).status == 303


async def test_the_cookie_is_secure_behind_an_https_public_url(tmp_path: Path) -> None:
    async with (
        served(tmp_path, "  public_url: https://sla.example.com\n") as collector,
        aiohttp.ClientSession() as session,  # as a TLS proxy would pass it on
    ):
        async with session.get(f"{collector.url}/login") as form:
            login_cookie = form.headers["Set-Cookie"]
            csrf = re.search(r'name="csrf" value="([^"]+)"', await form.text())
        assert csrf and "Secure" in login_cookie
        value = re.search(r"slawatch_login=([^;]+)", login_cookie).group(1)  # type: ignore[union-attr]
        async with session.post(
            f"{collector.url}/login", headers={"Cookie": f"slawatch_login={value}"},
            data={"csrf": csrf.group(1), "token": ADMIN}, allow_redirects=False,
        ) as response:  # fmt: skip
            assert response.status == 303
            cookie = next(
                c for c in response.headers.getall("Set-Cookie") if "slawatch_session=" in c
            )
        assert "Secure" in cookie and "HttpOnly" in cookie


# ---------------------------------------------------------------------------- share links


async def test_a_share_link_is_stored_hashed_and_opens_until_revoked_or_expired(
    site: Site, tmp_path: Path
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{site.url}/api/v1/share-links", headers=auth(ADMIN),
            json={"customer": "acme", "expires": "2026-11-10T13:00:00Z"},
        ) as response:  # fmt: skip
            assert response.status == 201
            link = await response.json()
        assert link["url"].startswith("/status/acme?key=")
        assert link["expires"] == "2026-11-10T13:00:00Z"
        key = link["url"].split("key=")[1]
        database = tmp_path / "data" / "collector.db"
        with sqlite3.connect(database) as db:
            stored = db.execute("SELECT key_sha256 FROM share_links WHERE id = ?", (link["id"],))
            assert stored.fetchone()[0] == hashlib.sha256(key.encode()).digest()
        assert key.encode() not in database.read_bytes()
        async with session.get(f"{site.url}{link['url']}") as page:
            assert page.status == 200
            text = await page.text()
            assert f"&amp;key={key}" in text  # its report links carry the key
        clock = site.collector.app[CLOCK]
        clock.now = NOW / 1000 + 3600  # type: ignore[attr-defined]
        async with session.get(f"{site.url}{link['url']}") as expired:
            assert expired.status == 401
        clock.now = NOW / 1000  # type: ignore[attr-defined]
        async with session.delete(f"{site.url}/api/v1/share-links/{link['id']}",
                                  headers=auth(ADMIN)) as revoked:  # fmt: skip
            assert revoked.status == 204
        async with session.delete(f"{site.url}/api/v1/share-links/{link['id']}",
                                  headers=auth(ADMIN)) as again:  # fmt: skip
            assert again.status == 404
        async with session.get(f"{site.url}{link['url']}") as gone:
            assert gone.status == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customer": "nobody", "expires": "2026-11-12T00:00:00Z"}, "customer"),
        ({"customer": "acme", "expires": "2026-11-01T00:00:00Z"}, "expires"),
        ({"customer": "acme", "expires": "2027-12-01T00:00:00Z"}, "expires"),
        ({"customer": "acme", "expires": "tomorrow"}, "expires"),
        ({"customer": "acme"}, "expires"),
    ],
)
async def test_a_bad_share_link_request_is_a_400_naming_the_field(
    site: Site, body: dict[str, str], field: str
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{site.url}/api/v1/share-links", headers=auth(ADMIN), json=body) as response,
    ):
        assert response.status == 400
        assert [d["field"] for d in (await response.json())["details"]] == [field]


async def test_an_absolute_share_url_comes_from_public_url(tmp_path: Path) -> None:
    async with (
        served(tmp_path, "  public_url: https://sla.example.com/\n") as collector,
        aiohttp.ClientSession() as session,session.post(
        f"{collector.url}/api/v1/share-links", headers=auth(ADMIN),
        json={"customer": "globex", "expires": "2026-11-11T00:00:00Z"},
    ) as response
    ):  # fmt: skip
        assert (await response.json())["url"].startswith(
            "https://sla.example.com/status/globex?key="
        )


# ---------------------------------------------------------------------------- admin actions


async def test_an_admin_action_needs_the_csrf_token_then_a_confirmation(site: Site) -> None:
    form = {"sla": "acme-web", "start": "2026-11-11T02:00", "end": "2026-11-11T03:00",
            "reason": "<b>kernel</b>"}  # fmt: skip
    async with browser() as session:
        await sign_in(session, site.url, ADMIN)
        async with session.post(f"{site.url}/admin/maintenance", data=form) as refused:
            assert refused.status == 403
        csrf = await page_csrf(session, f"{site.url}/admin")
        with capture_logs() as logs:
            async with session.post(f"{site.url}/admin/maintenance",
                                    data={**form, "csrf": csrf}) as confirm:  # fmt: skip
                assert confirm.status == 200
                assert "&lt;b&gt;kernel&lt;/b&gt;" in await confirm.text()
            async with session.get(f"{site.url}/api/v1/maintenance?sla=acme-web") as listed:
                assert [m for m in (await listed.json())["maintenance"] if m.get("id")] == []
            async with session.post(f"{site.url}/admin/maintenance",
                                    data={**form, "csrf": csrf, "confirmed": "yes"}) as done:  # fmt: skip
                assert done.status == 200, await done.text()
        assert any(e["event"] == "page_action" and e["principal"] == "admin" for e in logs)
        async with session.get(f"{site.url}/api/v1/maintenance?sla=acme-web") as listed:
            windows = [m for m in (await listed.json())["maintenance"] if m.get("id")]
        assert [(w["start"], w["end"], w["reason"]) for w in windows] == [
            ("2026-11-11T02:00:00Z", "2026-11-11T03:00:00Z", "<b>kernel</b>")
        ]
        window = windows[0]["id"]
        async with session.post(f"{site.url}/admin/maintenance/{window}/delete",
                                data={"csrf": csrf, "confirmed": "yes"}) as deleted:  # fmt: skip
            assert deleted.status == 200
        async with session.get(f"{site.url}/api/v1/maintenance?sla=acme-web") as listed:
            assert [m for m in (await listed.json())["maintenance"] if m.get("id")] == []


async def test_the_admin_form_declares_an_exclusion_with_its_category(site: Site) -> None:
    form = {"sla": "acme-web", "start": "2026-11-11T02:00", "end": "2026-11-11T03:00",
            "kind": "exclusion", "category": "customer", "reason": "DNS change by the customer"}  # fmt: skip
    async with browser() as session:
        await sign_in(session, site.url, ADMIN)
        csrf = await page_csrf(session, f"{site.url}/admin")
        async with session.post(f"{site.url}/admin/maintenance",
                                data={**form, "csrf": csrf}) as confirm:  # fmt: skip
            text = await confirm.text()
            assert confirm.status == 200 and "exclusion" in text and "customer" in text
        async with session.post(f"{site.url}/admin/maintenance",
                                data={**form, "csrf": csrf, "confirmed": "yes"}) as done:  # fmt: skip
            assert done.status == 200, await done.text()
        async with session.get(f"{site.url}/api/v1/maintenance?sla=acme-web") as listed:
            windows = [m for m in (await listed.json())["maintenance"] if m.get("id")]
        assert [(w["kind"], w["category"], w["reason"]) for w in windows] == [
            ("exclusion", "customer", "DNS change by the customer")
        ]
        async with session.post(f"{site.url}/admin/maintenance", data={
            **form, "category": "", "csrf": csrf, "confirmed": "yes"}) as refused:  # fmt: skip
            assert refused.status == 400  # the API's rule: an exclusion needs its category


async def test_an_admin_actions_refusal_shows_the_apis_errors(site: Site) -> None:
    async with browser() as session:
        await sign_in(session, site.url, ADMIN)
        csrf = await page_csrf(session, f"{site.url}/admin")
        async with session.post(f"{site.url}/admin/maintenance", data={
            "csrf": csrf, "confirmed": "yes", "sla": "acme-web",
            "start": "2026-11-11T03:00", "end": "2026-11-11T02:00"}) as refused:  # fmt: skip
            assert refused.status == 400
            assert "must be after start" in await refused.text()
        async with session.post(f"{site.url}/admin/alerts/test", data={
            "csrf": csrf, "confirmed": "yes", "channel": "ops-hook"}) as failed:  # fmt: skip
            assert failed.status == 502  # the channel's port is closed
            assert "did not take the test message" in await failed.text()


async def test_a_customer_session_cannot_post_admin_actions(site: Site) -> None:
    async with browser() as session:
        await sign_in(session, site.url, ACME)
        async with session.get(f"{site.url}/logout") as page:
            csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)  # type: ignore[union-attr]
        async with session.post(f"{site.url}/admin/share-links", data={
            "csrf": csrf, "confirmed": "yes", "customer": "globex",
            "expires": "2026-11-12T00:00"}) as refused:  # fmt: skip
            assert refused.status == 403
    async with (
        aiohttp.ClientSession() as admin,
        admin.get(f"{site.url}/api/v1/share-links", headers=auth(ADMIN)) as listed,
    ):
        assert len((await listed.json())["share_links"]) == 2  # the fixture's only


async def test_minting_a_share_link_in_the_pages_shows_its_url_once(site: Site) -> None:
    async with browser() as session:
        await sign_in(session, site.url, ADMIN)
        csrf = await page_csrf(session, f"{site.url}/admin")
        async with session.post(f"{site.url}/admin/share-links", data={
            "csrf": csrf, "confirmed": "yes", "customer": "globex",
            "expires": "2026-11-12T00:00"}) as done:  # fmt: skip
            text = await done.text()
        url = re.search(r'id="share-url" readonly value="([^"]+)"', text)
        assert url and url.group(1).startswith("/status/globex?key=")
        async with (
            aiohttp.ClientSession() as anyone,
            anyone.get(f"{site.url}{url.group(1)}") as shared,
        ):
            assert shared.status == 200


# ---------------------------------------------------------------------------- headers, brand


async def test_pages_carry_a_strict_csp_and_the_brand_of_the_customer(site: Site) -> None:
    async with browser() as session:
        await sign_in(session, site.url, ADMIN)
        async with session.get(f"{site.url}/") as page:
            policy = page.headers["Content-Security-Policy"]
            text = await page.text()
        nonce = re.search(r"style-src 'nonce-([^']+)'", policy)
        assert nonce and f'<style nonce="{nonce.group(1)}">' in text
        assert "script-src 'self'" in policy and "unsafe" not in policy
        assert "frame-ancestors 'none'" in policy and "form-action 'self'" in policy
        assert "<script>alert" not in text and "&lt;script&gt;alert(&#39;sla&#39;)" in text
        async with session.get(f"{site.url}/status/acme") as status:
            assert "img-src https://cdn.acme.example" in status.headers["Content-Security-Policy"]
            text = await status.text()
            assert 'src="https://cdn.acme.example/logo.png"' in text
            assert "--accent: #0a7d5a" in text
        async with session.get(f"{site.url}/api/v1/slas/acme-web/report?format=html") as report:
            assert "img-src https://cdn.acme.example" in report.headers["Content-Security-Policy"]
            assert 'src="https://cdn.acme.example/logo.png"' in await report.text()
        async with session.get(f"{site.url}/status/globex") as plain:
            assert "img-src" not in plain.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("brand", "key"),
    [
        ('{accent: "red; background: url(https://x.example)"}', "accent"),
        ('{accent: "expression(alert(1))"}', "accent"),
        ('{logo_url: "javascript:alert(1)"}', "logo_url"),
        ('{logo_url: "https://x.example/a\'b.png"}', "logo_url"),
        ("{colour: red}", "colour"),
    ],
)
def test_a_brand_that_could_break_out_of_its_page_is_a_config_error(
    tmp_path: Path, brand: str, key: str
) -> None:
    text = config_text().replace(
        '{logo_url: "https://cdn.acme.example/logo.png", accent: "#0a7d5a"}', brand
    )
    with pytest.raises(ConfigError) as error:
        parse_config(text, base_dir=tmp_path, process="collector")
    assert f"collector.customers[0].brand.{key}" in str(error.value)


async def test_the_admin_ends_every_session_of_a_customer(site: Site) -> None:
    async with browser() as customer, browser() as admin:
        await sign_in(customer, site.url, ACME)
        async with customer.get(f"{site.url}/status/acme", allow_redirects=False) as page:
            assert page.status == 200
        await sign_in(admin, site.url, ADMIN)
        csrf = await page_csrf(admin, f"{site.url}/admin")
        async with admin.post(f"{site.url}/admin/sessions/sign-out",
                              data={"csrf": csrf, "confirmed": "yes", "principal": "acme"}) as done:  # fmt: skip
            assert done.status == 200
            assert "1 session(s) of acme ended" in await done.text()
        async with customer.get(f"{site.url}/status/acme", allow_redirects=False) as page:
            assert page.status == 401  # a private page, no session any more
        async with admin.get(f"{site.url}/", allow_redirects=False) as page:
            assert page.status == 200  # the admin's own session goes on


async def test_a_stale_overview_answers_at_once_and_a_newer_one_follows(site: Site) -> None:
    from slawatch.collector.pages.overview import OVERVIEW_CACHE
    from tests.pages_scene import sample

    def updated(text: str) -> str:
        found = re.search(r'<time id="updated" datetime="([^"]+)"', text)
        assert found
        return found.group(1)

    clock = site.collector.app[CLOCK]
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{site.url}/", headers=auth(ADMIN)) as first:
            assert updated(await first.text()) == "2026-11-10T12:00:00Z"
        clock.now += 3  # type: ignore[attr-defined]
        async with session.post(
            f"{site.url}/api/v1/samples", headers=auth(AGENT),
            json={"agent": "eu-1", "samples": [sample("db", NOW + 1000, "eu-1")]},
        ) as pushed:  # fmt: skip
            assert pushed.status == 200
        async with session.get(f"{site.url}/", headers=auth(ADMIN)) as stale:
            assert updated(await stale.text()) == "2026-11-10T12:00:00Z"
        refreshing = site.collector.app[OVERVIEW_CACHE].refreshing
        assert refreshing is not None
        await refreshing
        async with session.get(f"{site.url}/", headers=auth(ADMIN)) as newer:
            text = await newer.text()
        assert updated(text) == "2026-11-10T12:00:03Z"
        assert re.search(r'id="check-db" data-state="up"', text)  # the new sample's state
