"""GraphiQL from files installed with the package (server/static/graphiql), so that the IDE
works without internet access. Strawberry's own page loads GraphiQL and React from a CDN.

Served in development only (`Settings.graphiql_enabled`): production has neither the page
nor the assets route."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

ASSETS_ROUTE_NAME = "graphiql-assets"
ASSETS_PATH = "/static/graphiql"
_ASSETS_PLACEHOLDER = "{{assets}}"


@cache
def _page_template() -> str:
    return (files("server") / "static" / "graphiql.html").read_text(encoding="utf-8")


def assets_mount() -> Mount:
    """The route serving the vendored GraphiQL, React and CSS files."""
    return Mount(
        ASSETS_PATH,
        app=StaticFiles(packages=[("server", "static/graphiql")]),
        name=ASSETS_ROUTE_NAME,
    )


def graphiql_page(request: Request) -> HTMLResponse:
    """The IDE's HTML, pointing at the assets route (behind a path prefix too)."""
    assets = request.url_for(ASSETS_ROUTE_NAME, path="").path.rstrip("/")
    return HTMLResponse(_page_template().replace(_ASSETS_PLACEHOLDER, assets))
