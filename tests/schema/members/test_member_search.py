"""The admins' member search (`members` with filters), the staff's `storeMember` and the store
devices' `cardHolder`: what each finds, and who may ask."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from gamification.members.models import Member, Role
from gamification.privacy import erasure
from gamification.stores.models import Channel, Device
from schema.relay import to_global_id
from tests.factories import (
    actor_of,
    create_device,
    create_member,
    create_store,
    credit_points,
    execute,
    hold_member_points,
)

SEARCH = """
query Search($email: String, $cardNumber: String, $namePrefix: String, $first: Int!,
             $after: String) {
  members(email: $email, cardNumber: $cardNumber, namePrefix: $namePrefix, first: $first,
          after: $after) {
    edges { node { id email cardNumber } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
STORE_MEMBER = """
query StoreMember($cardNumber: String!) {
  storeMember(cardNumber: $cardNumber) {
    displayName cardNumber availablePoints openHolds { id points }
  }
}
"""
CARD_HOLDER = """
query CardHolder($cardNumber: String!) {
  cardHolder(cardNumber: $cardNumber) { firstName availablePoints }
}
"""


def _ids(result: object) -> list[str]:
    return [edge["node"]["id"] for edge in result.data["members"]["edges"]]  # type: ignore[attr-defined]


async def test_an_admin_finds_a_member_by_email_card_and_name_prefix(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)
    ann = await create_member(email="ann.lee@example.com", display_name="Ann Lee")
    await create_member(email="bo@example.com", display_name="Bo")
    ann_id = to_global_id("Member", ann.id)
    spaced = " ".join(ann.card_number[i : i + 4] for i in range(0, 16, 4))

    # when
    by_email = await execute(app, SEARCH, {"email": "ANN.LEE@example.com", "first": 5}, as_=admin)
    by_card = await execute(app, SEARCH, {"cardNumber": spaced, "first": 5}, as_=admin)
    by_name = await execute(app, SEARCH, {"namePrefix": "aNn l", "first": 5}, as_=admin)

    # then
    assert _ids(by_email) == [ann_id]
    assert _ids(by_card) == [ann_id]
    assert _ids(by_name) == [ann_id]
    assert by_email.data["members"]["edges"][0]["node"]["cardNumber"] == ann.card_number


async def test_a_filtered_search_pages_through_its_matches(app: Starlette) -> None:
    # given: five Lees and a Bo
    admin = await create_member(role=Role.ADMIN)
    lees = [
        to_global_id("Member", (await create_member(display_name=f"Lee {n}")).id) for n in range(5)
    ]
    await create_member(display_name="Bo")

    # when
    first = await execute(app, SEARCH, {"namePrefix": "lee", "first": 3}, as_=admin)
    after = first.data["members"]["pageInfo"]["endCursor"]
    second = await execute(
        app, SEARCH, {"namePrefix": "lee", "first": 3, "after": after}, as_=admin
    )

    # then
    assert _ids(first) + _ids(second) == lees
    assert first.data["members"]["pageInfo"]["hasNextPage"] is True
    assert second.data["members"]["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize(
    ("variables", "code", "field"),
    [
        ({"email": "nobody"}, "INVALID_EMAIL", "email"),
        ({"cardNumber": "12ab"}, "INVALID_INPUT", "cardNumber"),
        ({"namePrefix": "  "}, "INVALID_INPUT", "namePrefix"),
    ],
)
async def test_a_malformed_filter_is_a_typed_error(
    app: Starlette, variables: dict[str, str], code: str, field: str
) -> None:
    admin = await create_member(role=Role.ADMIN)

    result = await execute(app, SEARCH, {**variables, "first": 5}, as_=admin)

    assert result.data is None
    assert [(e.extensions["code"], e.extensions["field"]) for e in result.errors] == [(code, field)]


async def test_an_erased_member_is_not_found_by_the_old_email_or_card(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)
    staff = await create_member(role=Role.STAFF, store=await create_store())
    member = await create_member(email="gone@example.com")
    await erasure.erase_member(actor=actor_of(admin), member_id=member.id, reason="request")

    # when
    by_email = await execute(app, SEARCH, {"email": "gone@example.com", "first": 5}, as_=admin)
    by_card = await execute(app, SEARCH, {"cardNumber": member.card_number, "first": 5}, as_=admin)
    at_till = await execute(app, STORE_MEMBER, {"cardNumber": member.card_number}, as_=staff)

    # then
    assert _ids(by_email) == []
    assert _ids(by_card) == []
    assert at_till.data == {"storeMember": None}


async def test_staff_see_name_card_available_points_and_only_their_stores_open_holds(
    app: Starlette,
) -> None:
    # given: 500 points, 50 held at the staff member's store and 30 at another
    here, there = await create_store(), await create_store()
    staff = await create_member(role=Role.STAFF, store=here)
    member = await create_member(display_name="Anna Berg")
    await credit_points(member=member, points=500)
    held_here = await hold_member_points(
        member=member, device=await create_device(store=here, channel=Channel.POS), points=50
    )
    await hold_member_points(
        member=member, device=await create_device(store=there, channel=Channel.POS), points=30
    )

    # when
    result = await execute(app, STORE_MEMBER, {"cardNumber": member.card_number}, as_=staff)

    # then
    assert result.errors is None
    assert result.data["storeMember"] == {
        "displayName": "Anna Berg",
        "cardNumber": member.card_number,
        "availablePoints": 420,
        "openHolds": [{"id": to_global_id("PointsHold", held_here.id), "points": 50}],
    }


async def test_a_device_sees_only_the_card_holders_first_name_and_available_points(
    app: Starlette,
) -> None:
    member = await create_member(display_name="Anna Berg")
    await credit_points(member=member, points=120)
    kiosk = await create_device()

    result = await execute(app, CARD_HOLDER, {"cardNumber": member.card_number}, as_=kiosk)

    assert result.errors is None
    assert result.data == {"cardHolder": {"firstName": "Anna", "availablePoints": 120}}


async def test_an_unknown_card_finds_nobody(app: Starlette) -> None:
    kiosk = await create_device()

    result = await execute(app, CARD_HOLDER, {"cardNumber": "0000 0000 0000 0000"}, as_=kiosk)

    assert result.data == {"cardHolder": None}


# Who may ask: (caller, search, storeMember, cardHolder); "ok" or the GraphQL error code.
WHO_MAY_ASK = [
    ("anonymous", "UNAUTHENTICATED", "UNAUTHENTICATED", "UNAUTHENTICATED"),
    ("member", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN"),
    ("staff", "FORBIDDEN", "ok", "ok"),
    ("admin", "ok", "ok", "ok"),
    ("kiosk", "FORBIDDEN", "FORBIDDEN", "ok"),
    ("till", "FORBIDDEN", "FORBIDDEN", "ok"),
]


@pytest.mark.parametrize(("caller_kind", "search", "store_member", "card_holder"), WHO_MAY_ASK)
async def test_who_may_look_members_up(
    app: Starlette, caller_kind: str, search: str, store_member: str, card_holder: str
) -> None:
    # given
    store = await create_store()
    member = await create_member()
    callers: dict[str, Member | Device | None] = {
        "anonymous": None,
        "member": await create_member(),
        "staff": await create_member(role=Role.STAFF, store=store),
        "admin": await create_member(role=Role.ADMIN),
        "kiosk": await create_device(store=store, channel=Channel.KIOSK),
        "till": await create_device(store=store, channel=Channel.POS),
    }
    caller = callers[caller_kind]
    card = {"cardNumber": member.card_number}

    # when
    answers = [
        await execute(app, SEARCH, {**card, "first": 5}, as_=caller),
        await execute(app, STORE_MEMBER, card, as_=caller),
        await execute(app, CARD_HOLDER, card, as_=caller),
    ]

    # then: refused callers learn nothing of the member, allowed ones find them
    seen = ["ok" if r.errors is None else r.errors[0].extensions["code"] for r in answers]
    assert seen == [search, store_member, card_holder]
    assert all(r.data is None or set(r.data.values()) == {None} for r in answers if r.errors)
    assert all(r.data and next(iter(r.data.values())) for r in answers if r.errors is None)
