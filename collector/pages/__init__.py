"""Pages for people (CONTRACT §8): sign-in sessions, the operator's overview (`/`), check pages
(`/checks/{id}`), badges, share links and the admin actions, server-rendered (Jinja2) under a
strict Content-Security-Policy, readable without script.

One module one job: `sessions` (sign-in, the principal of a browser, CSRF, rate limit), `share`
(share links and their API), `overview`, `checkpage`, `badges`, `actions`, `charts` (inline
SVG), `render` (templates, CSP). `setup(app)` adds them all.
"""

from __future__ import annotations

from aiohttp import web

from slawatch.collector.pages import actions, badges, checkpage, overview, sessions, share
from slawatch.collector.pages.render import static_file
from slawatch.collector.routing import Route, add_routes


def setup(app: web.Application) -> None:
    sessions.setup(app)
    share.setup(app)
    overview.setup(app)
    checkpage.setup(app)
    badges.setup(app)
    actions.setup(app)
    add_routes(
        app,
        (Route("GET", "/pages/static/{name}", static_file, "The pages' files", documented=False),),
    )
