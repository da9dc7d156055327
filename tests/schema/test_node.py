from __future__ import annotations

import base64
import secrets

import pytest
from starlette.applications import Starlette

from gamification.members.models import Member, Role
from gamification.stores.models import Device
from schema.relay import to_global_id
from tests.factories import create_device, create_member, create_store, execute

NODE = """
query Node($id: ID!) {
  node(id: $id) {
    __typename
    id
    ... on Member { email }
    ... on Store { code }
    ... on Device { name }
  }
}
"""


def _encoded(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def test_a_member_reads_their_own_node(app: Starlette) -> None:
    member = await create_member(email="maya@example.com")
    member_id = to_global_id("Member", member.id)

    result = await execute(app, NODE, {"id": member_id}, as_=member)

    assert result.errors is None
    assert result.data["node"] == {
        "__typename": "Member",
        "id": member_id,
        "email": "maya@example.com",
    }


async def test_another_members_node_is_null(app: Starlette) -> None:
    # given
    member = await create_member()
    other = await create_member()

    # when
    result = await execute(app, NODE, {"id": to_global_id("Member", other.id)}, as_=member)

    # then: the same answer as for an id that does not exist
    assert result.errors is None
    assert result.data["node"] is None


async def test_staff_cannot_read_a_members_node(app: Starlette) -> None:
    cashier = await create_member(role=Role.STAFF, store=await create_store())
    member = await create_member()

    result = await execute(app, NODE, {"id": to_global_id("Member", member.id)}, as_=cashier)

    assert result.errors is None
    assert result.data["node"] is None


async def test_a_missing_member_node_is_null(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)

    result = await execute(app, NODE, {"id": to_global_id("Member", admin.id + 1000)}, as_=admin)

    assert result.errors is None
    assert result.data["node"] is None


@pytest.mark.parametrize(
    "forged",
    [
        "",
        "garbage",
        "!!!!",
        secrets.token_urlsafe(24),
        _encoded("Member"),
        _encoded("Member:"),
        _encoded("Member:abc"),
        _encoded("Member:1.5"),
        _encoded("Member: 1"),
        _encoded("Member:-1"),
        _encoded("Member:0"),
        _encoded("Member:\u0661"),  # an Arabic-Indic digit one
        _encoded("Member:3000000000"),
        _encoded("Member:99999999999999999999"),
        _encoded("Member:" + "9" * 40),
        _encoded("Wallet:1"),
        _encoded(":1"),
        base64.urlsafe_b64encode(b"\xff\xfe:1").decode(),
        "x" * 10_000,
    ],
)
async def test_a_forged_id_is_null_without_an_error(app: Starlette, forged: str) -> None:
    admin = await create_member(role=Role.ADMIN)

    result = await execute(app, NODE, {"id": forged}, as_=admin)

    assert result.errors is None
    assert result.data["node"] is None


async def test_an_admin_reads_any_members_node(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)
    member = await create_member(email="leo@example.com")

    result = await execute(app, NODE, {"id": to_global_id("Member", member.id)}, as_=admin)

    assert result.errors is None
    assert result.data["node"]["email"] == "leo@example.com"


async def test_any_authenticated_caller_reads_a_store_node(app: Starlette) -> None:
    # given
    store = await create_store(code="CITY")
    callers: list[Member | Device] = [
        await create_member(),
        await create_member(role=Role.STAFF, store=store),
        await create_member(role=Role.ADMIN),
        await create_device(store=await create_store()),
    ]

    for caller in callers:
        # when
        result = await execute(app, NODE, {"id": to_global_id("Store", store.id)}, as_=caller)

        # then
        assert result.errors is None
        assert result.data["node"] == {
            "__typename": "Store",
            "id": to_global_id("Store", store.id),
            "code": "CITY",
        }


async def test_a_device_reads_only_its_own_device_node(app: Starlette) -> None:
    kiosk = await create_device()
    other = await create_device()

    own = await execute(app, NODE, {"id": to_global_id("Device", kiosk.id)}, as_=kiosk)
    others = await execute(app, NODE, {"id": to_global_id("Device", other.id)}, as_=kiosk)

    assert own.data["node"] == {
        "__typename": "Device",
        "id": to_global_id("Device", kiosk.id),
        "name": kiosk.name,
    }
    assert others.data["node"] is None


async def test_a_member_cannot_read_a_device_node(app: Starlette) -> None:
    member = await create_member()
    kiosk = await create_device()

    result = await execute(app, NODE, {"id": to_global_id("Device", kiosk.id)}, as_=member)

    assert result.data["node"] is None


async def test_node_is_unauthenticated_for_anonymous_callers(app: Starlette) -> None:
    store = await create_store()

    result = await execute(app, NODE, {"id": to_global_id("Store", store.id)})

    assert result.data == {"node": None}
    assert [e.extensions["code"] for e in result.errors] == ["UNAUTHENTICATED"]


NODES = """
query Nodes($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }
"""


async def test_nodes_answers_in_the_order_asked_with_null_for_what_is_not_yours(
    app: Starlette,
) -> None:
    member = await create_member()
    other = await create_member()
    store = await create_store()
    ids = [
        to_global_id("Store", store.id),
        to_global_id("Member", other.id),  # someone else's: null, like a missing one
        to_global_id("Member", member.id),
        to_global_id("Member", 999_999),
    ]

    result = await execute(app, NODES, {"ids": ids}, as_=member)

    assert result.errors is None
    assert result.data["nodes"] == [
        {"__typename": "Store", "id": ids[0]},
        None,
        {"__typename": "Member", "id": ids[2]},
        None,
    ]


async def test_nodes_refuses_more_ids_than_a_page(app: Starlette) -> None:
    member = await create_member()
    ids = [to_global_id("Member", member.id)] * 101

    result = await execute(app, NODES, {"ids": ids}, as_=member)

    assert result.errors is not None
    assert result.errors[0].extensions["code"] == "PAGE_SIZE_TOO_LARGE"


MEMBERS_PAGE = """
query Page($after: String) {
  members(first: 2, after: $after) {
    edges { cursor }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


async def test_page_info_says_where_a_page_is(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)
    for _ in range(3):
        await create_member()

    first = await execute(app, MEMBERS_PAGE, {}, as_=admin)
    page = first.data["members"]
    second = await execute(app, MEMBERS_PAGE, {"after": page["pageInfo"]["endCursor"]}, as_=admin)
    then = second.data["members"]

    assert page["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "startCursor": page["edges"][0]["cursor"],
        "endCursor": page["edges"][-1]["cursor"],
    }
    assert then["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "startCursor": then["edges"][0]["cursor"],
        "endCursor": then["edges"][-1]["cursor"],
    }
