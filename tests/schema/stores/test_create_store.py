from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.members.models import Member, Role
from gamification.stores.models import Device, Store
from tests.factories import create_device, create_member, create_store, execute

CREATE_STORE = """
mutation CreateStore($code: String!, $name: String!, $timezone: String! = "UTC") {
  createStore(code: $code, name: $name, timezone: $timezone) {
    store { id code name timezone }
    errors { code field }
  }
}
"""


async def test_an_admin_creates_a_store(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)

    result = await execute(
        app,
        CREATE_STORE,
        {"code": " city ", "name": "City Centre", "timezone": "Europe/Paris"},
        as_=admin,
    )

    assert result.errors is None
    payload = result.data["createStore"]
    assert payload["errors"] == []
    assert payload["store"]["code"] == "CITY"
    assert payload["store"]["name"] == "City Centre"
    assert payload["store"]["timezone"] == "Europe/Paris"
    assert await Store.filter(code="CITY").count() == 1


@pytest.mark.parametrize(
    ("variables", "code", "field"),
    [
        ({"code": "X"}, "INVALID_INPUT", "code"),
        ({"code": "city centre"}, "INVALID_INPUT", "code"),
        ({"name": "   "}, "INVALID_INPUT", "name"),
        ({"name": "n" * 121}, "INVALID_INPUT", "name"),
        ({"timezone": "Mars/Olympus_Mons"}, "INVALID_TIMEZONE", "timezone"),
    ],
)
async def test_an_invalid_store_is_a_typed_error(
    app: Starlette, variables: dict[str, Any], code: str, field: str
) -> None:
    admin = await create_member(role=Role.ADMIN)

    result = await execute(
        app, CREATE_STORE, {"code": "CITY", "name": "City Centre", **variables}, as_=admin
    )

    assert result.data["createStore"] == {"store": None, "errors": [{"code": code, "field": field}]}
    assert await Store.all().count() == 0


async def test_a_store_code_is_unique(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)
    await create_store(code="CITY")

    result = await execute(app, CREATE_STORE, {"code": "city", "name": "Another"}, as_=admin)

    assert result.data["createStore"]["errors"][0]["field"] == "code"
    assert await Store.all().count() == 1


async def test_only_admins_create_stores(app: Starlette) -> None:
    store = await create_store()
    callers: list[Member | Device] = [
        await create_member(),
        await create_member(role=Role.STAFF, store=store),
        await create_device(store=store),
    ]

    for caller in callers:
        result = await execute(app, CREATE_STORE, {"code": "NEW", "name": "New"}, as_=caller)

        assert result.data is None
        assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert await Store.all().count() == 1
