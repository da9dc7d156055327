"""The reference pages: a store kiosk (`/kiosk`), a member's web page (`/me`) and a till
(`/till`), plain HTML and a little JavaScript from the package's own files
(server/static/pages), with the `graphql-ws` client bundled (no CDN, no network at run time).

They speak only the public GraphQL API, as a client team's front end would: `/graphql` over
HTTP, and subscriptions over graphql-transport-ws on the same path. Served where
`Settings.reference_pages_enabled` (development, or production when turned on).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

ASSETS_ROUTE_NAME = "reference-pages-assets"
ASSETS_PATH = "/static/pages"
GRAPHQL_PATH = "/graphql"
# The page's URL and its HTML file in server/static/pages.
PAGES = {"/kiosk": "kiosk.html", "/me": "me.html", "/till": "till.html"}
_ASSETS_PLACEHOLDER = "{{assets}}"
_GRAPHQL_PLACEHOLDER = "{{graphql}}"
# Scripts and styles from this origin only (nothing inline), QR images as `data:` URLs, the
# API and its WebSocket on this origin; never framed (a kiosk page in a frame could be clicked
# through).
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@cache
def _page_template(name: str) -> str:
    return (files("server") / "static" / "pages" / name).read_text(encoding="utf-8")


def _render(request: Request) -> HTMLResponse:
    """A page's HTML, pointing at the assets route and the API (behind a path prefix too)."""
    assets = request.url_for(ASSETS_ROUTE_NAME, path="").path.rstrip("/")
    graphql = request.scope.get("root_path", "") + GRAPHQL_PATH
    page = _page_template(PAGES[request.scope["route"].path])
    return HTMLResponse(
        page.replace(_ASSETS_PLACEHOLDER, assets).replace(_GRAPHQL_PLACEHOLDER, graphql),
        headers=_SECURITY_HEADERS,
    )


def routes() -> list[BaseRoute]:
    """The three pages and their files (styles, scripts, the bundled client)."""
    return [
        *(Route(path, _render, methods=["GET"]) for path in PAGES),
        Mount(
            ASSETS_PATH,
            app=StaticFiles(packages=[("server", "static/pages")]),
            name=ASSETS_ROUTE_NAME,
        ),
    ]
