from __future__ import annotations

from datetime import date

from starlette.applications import Starlette

from gamification.members.models import Role
from schema.relay import to_global_id
from tests.factories import create_device, create_member, create_store, execute

ME = """
query Me {
  me {
    id
    email
    displayName
    birthday
    timezone
    marketingConsent
    leaderboardVisible
    role
    cardNumber
    createdAt
  }
}
"""


async def test_me_returns_the_callers_own_profile(app: Starlette) -> None:
    # given
    member = await create_member(
        email="maya@example.com", display_name="Maya Green", timezone="Europe/Paris"
    )
    member.birthday = date(1990, 4, 12)
    await member.save(update_fields=["birthday"])
    await create_member(email="someone.else@example.com")

    # when
    result = await execute(app, ME, as_=member)

    # then
    assert result.errors is None
    me = result.data["me"]
    assert me == {
        "id": to_global_id("Member", member.id),
        "email": "maya@example.com",
        "displayName": "Maya Green",
        "birthday": "1990-04-12",
        "timezone": "Europe/Paris",
        "marketingConsent": False,
        "leaderboardVisible": True,
        "role": "MEMBER",
        "cardNumber": member.card_number,
        "createdAt": me["createdAt"],
    }
    assert me["createdAt"].startswith(str(member.created_at.year))


async def test_me_works_for_staff_and_admins(app: Starlette) -> None:
    cashier = await create_member(role=Role.STAFF, store=await create_store())
    admin = await create_member(role=Role.ADMIN)

    as_cashier = await execute(app, ME, as_=cashier)
    as_admin = await execute(app, ME, as_=admin)

    assert as_cashier.data["me"]["role"] == "STAFF"
    assert as_admin.data["me"]["role"] == "ADMIN"


async def test_me_is_unauthenticated_for_anonymous_callers(app: Starlette) -> None:
    result = await execute(app, ME)

    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["UNAUTHENTICATED"]


async def test_me_is_forbidden_to_devices(app: Starlette) -> None:
    kiosk = await create_device()

    result = await execute(app, ME, as_=kiosk)

    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
