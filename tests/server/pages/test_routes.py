"""The reference pages are served where `reference_pages_enabled`: in development by default,
in production only when turned on; with a policy that lets them load nothing from elsewhere.
(What they do is tested in a real browser: the other modules here.)"""

from __future__ import annotations

import httpx
import pytest
from redis.asyncio import Redis

from server.app import create_app
from server.pages import ASSETS_PATH, PAGES
from server.settings import Environment, Settings

VENDORED_CLIENT = f"{ASSETS_PATH}/vendor/graphql-ws.min.js"


def _client(settings: Settings, redis: Redis, **changes: object) -> httpx.AsyncClient:
    # On the test session's Redis: a second lifespan would close the session's database.
    app = create_app(settings.model_copy(update=changes))
    app.state.redis = redis
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.mark.parametrize("path", list(PAGES))
async def test_development_serves_each_page_with_its_files(
    settings: Settings, redis: Redis, path: str
) -> None:
    # when
    async with _client(settings, redis) as http:
        page = await http.get(path)
        client = await http.get(VENDORED_CLIENT)

    # then: the page, pointing at the API and at this service's own files only
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<meta name="graphql-endpoint" content="/graphql" />' in page.text
    assert f'src="{ASSETS_PATH}/vendor/graphql-ws.min.js"' in page.text
    assert "{{" not in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy
    assert client.status_code == 200
    assert "graphqlWs" in client.text


async def test_production_serves_no_page_unless_turned_on(settings: Settings, redis: Redis) -> None:
    # when: production as it starts by default, then with the pages turned on (a demo)
    async with _client(settings, redis, environment=Environment.PRODUCTION) as http:
        off = [(await http.get(path)).status_code for path in [*PAGES, VENDORED_CLIENT]]
    async with _client(
        settings, redis, environment=Environment.PRODUCTION, reference_pages=True
    ) as http:
        on = [(await http.get(path)).status_code for path in [*PAGES, VENDORED_CLIENT]]

    # then
    assert off == [404, 404, 404, 404]
    assert on == [200, 200, 200, 200]


async def test_development_can_turn_them_off(settings: Settings, redis: Redis) -> None:
    async with _client(settings, redis, reference_pages=False) as http:
        assert (await http.get("/kiosk")).status_code == 404
