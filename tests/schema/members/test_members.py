from __future__ import annotations

import base64

import pytest
from starlette.applications import Starlette

from gamification.members.models import Member, Role
from gamification.stores.models import Device
from schema.relay import to_global_id
from server.settings import Settings
from tests.factories import create_device, create_member, create_store, execute

MEMBERS = """
query Members($first: Int!, $after: String) {
  members(first: $first, after: $after) {
    edges { cursor node { id email } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def _encoded(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def test_members_pages_through_every_member_once_in_order(app: Starlette) -> None:
    # given: an admin and 11 members, read 4 at a time
    admin = await create_member(role=Role.ADMIN)
    for _ in range(11):
        await create_member()
    expected = [to_global_id("Member", pk) for pk in await _ids_in_creation_order()]

    # when
    seen: list[str] = []
    pages = 0
    after = None
    while True:
        result = await execute(app, MEMBERS, {"first": 4, "after": after}, as_=admin)
        assert result.errors is None
        connection = result.data["members"]
        seen += [edge["node"]["id"] for edge in connection["edges"]]
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
        assert after == connection["edges"][-1]["cursor"]

    # then
    assert seen == expected
    assert len(seen) == 12
    assert pages == 3


async def test_a_page_exactly_at_the_end_has_no_next_page(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)
    await create_member()

    result = await execute(app, MEMBERS, {"first": 2}, as_=admin)

    assert len(result.data["members"]["edges"]) == 2
    assert result.data["members"]["pageInfo"]["hasNextPage"] is False


async def test_a_page_after_the_last_member_is_empty(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)
    first = await execute(app, MEMBERS, {"first": 1}, as_=admin)

    result = await execute(
        app,
        MEMBERS,
        {"first": 5, "after": first.data["members"]["pageInfo"]["endCursor"]},
        as_=admin,
    )

    assert result.data["members"] == {
        "edges": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }


async def test_a_page_larger_than_the_maximum_is_refused(
    app: Starlette, settings: Settings
) -> None:
    admin = await create_member(role=Role.ADMIN)

    result = await execute(app, MEMBERS, {"first": settings.max_page_size + 1}, as_=admin)

    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["PAGE_SIZE_TOO_LARGE"]


async def test_a_page_of_exactly_the_maximum_is_allowed(app: Starlette, settings: Settings) -> None:
    admin = await create_member(role=Role.ADMIN)

    result = await execute(app, MEMBERS, {"first": settings.max_page_size}, as_=admin)

    assert result.errors is None


async def test_a_negative_page_size_is_refused(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)

    result = await execute(app, MEMBERS, {"first": -1}, as_=admin)

    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["INVALID_INPUT"]


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage",
        "!!!!",
        _encoded("cursor:"),
        _encoded("cursor:abc"),
        _encoded("cursor:-5"),
        _encoded("cursor: 5"),
        _encoded("cursor:3000000000"),
        _encoded("cursor:" + "9" * 30),
        _encoded("Member:1"),
        "x" * 10_000,
    ],
)
async def test_an_invalid_cursor_is_refused(app: Starlette, cursor: str) -> None:
    admin = await create_member(role=Role.ADMIN)

    result = await execute(app, MEMBERS, {"first": 5, "after": cursor}, as_=admin)

    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["INVALID_CURSOR"]
    assert result.errors[0].extensions["field"] == "after"


async def test_members_is_forbidden_to_members_staff_and_devices(app: Starlette) -> None:
    store = await create_store()
    callers: list[Member | Device] = [
        await create_member(),
        await create_member(role=Role.STAFF, store=store),
        await create_device(store=store),
    ]

    for caller in callers:
        result = await execute(app, MEMBERS, {"first": 5}, as_=caller)

        assert result.data is None
        assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]


async def test_members_is_unauthenticated_for_anonymous_callers(app: Starlette) -> None:
    result = await execute(app, MEMBERS, {"first": 5})

    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["UNAUTHENTICATED"]


async def _ids_in_creation_order() -> list[int]:
    return [member.id for member in await Member.all().order_by("id")]
