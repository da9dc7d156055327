from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.members.models import Member
from tests.factories import create_device, create_member, execute

UPDATE_PROFILE = """
mutation UpdateProfile(
  $displayName: String
  $birthday: Date
  $timezone: String
  $marketingConsent: Boolean
  $leaderboardVisible: Boolean
) {
  updateProfile(
    displayName: $displayName
    birthday: $birthday
    timezone: $timezone
    marketingConsent: $marketingConsent
    leaderboardVisible: $leaderboardVisible
  ) {
    member {
      displayName
      birthday
      timezone
      marketingConsent
      leaderboardVisible
    }
    errors { code field }
  }
}
"""

CLEAR_BIRTHDAY = """
mutation { updateProfile(birthday: null) { member { birthday displayName } errors { code } } }
"""

_PROFILE_FIELDS = (
    "display_name",
    "birthday",
    "timezone",
    "marketing_consent",
    "leaderboard_visible",
    "updated_at",
)


async def _profile(member: Member) -> dict[str, Any]:
    stored = await Member.get(id=member.id)
    return {name: getattr(stored, name) for name in _PROFILE_FIELDS}


async def test_update_profile_changes_every_given_field(app: Starlette) -> None:
    # given
    member = await create_member(display_name="Maya")

    # when
    result = await execute(
        app,
        UPDATE_PROFILE,
        {
            "displayName": "  Maya Green ",
            "birthday": "1990-04-12",
            "timezone": "Asia/Tokyo",
            "marketingConsent": True,
            "leaderboardVisible": False,
        },
        as_=member,
    )

    # then
    assert result.errors is None
    assert result.data["updateProfile"] == {
        "member": {
            "displayName": "Maya Green",
            "birthday": "1990-04-12",
            "timezone": "Asia/Tokyo",
            "marketingConsent": True,
            "leaderboardVisible": False,
        },
        "errors": [],
    }
    stored = await Member.get(id=member.id)
    assert stored.display_name == "Maya Green"
    assert stored.birthday == date(1990, 4, 12)
    assert stored.timezone == "Asia/Tokyo"
    assert stored.marketing_consent is True
    assert stored.leaderboard_visible is False


async def test_update_profile_leaves_fields_it_is_not_given(app: Starlette) -> None:
    # given
    member = await create_member(display_name="Maya", timezone="Europe/Paris")

    # when: only the consent, and an explicit null for a field that cannot be cleared
    result = await execute(
        app, UPDATE_PROFILE, {"marketingConsent": True, "displayName": None}, as_=member
    )

    # then
    assert result.data["updateProfile"]["member"]["displayName"] == "Maya"
    stored = await Member.get(id=member.id)
    assert (stored.display_name, stored.timezone, stored.marketing_consent) == (
        "Maya",
        "Europe/Paris",
        True,
    )


async def test_update_profile_clears_the_birthday_with_null(app: Starlette) -> None:
    # given
    member = await create_member(display_name="Maya")
    member.birthday = date(1990, 4, 12)
    await member.save(update_fields=["birthday"])

    # when
    result = await execute(app, CLEAR_BIRTHDAY, as_=member)

    # then
    assert result.data["updateProfile"] == {
        "member": {"birthday": None, "displayName": "Maya"},
        "errors": [],
    }
    assert (await Member.get(id=member.id)).birthday is None


async def test_update_profile_changes_only_the_callers_own_profile(app: Starlette) -> None:
    # given
    member = await create_member(display_name="Maya")
    other = await create_member(display_name="Leo")
    others_profile = await _profile(other)

    # when
    await execute(app, UPDATE_PROFILE, {"displayName": "Changed"}, as_=member)

    # then
    assert await _profile(other) == others_profile


@pytest.mark.parametrize(
    ("variables", "code", "field"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "INVALID_TIMEZONE", "timezone"),
        ({"timezone": "Europe"}, "INVALID_TIMEZONE", "timezone"),
        ({"displayName": ""}, "INVALID_DISPLAY_NAME", "displayName"),
        ({"displayName": "M" * 41}, "INVALID_DISPLAY_NAME", "displayName"),
        (
            {"birthday": (datetime.now(UTC).date() + timedelta(days=2)).isoformat()},
            "INVALID_BIRTHDAY",
            "birthday",
        ),
    ],
)
async def test_an_invalid_change_is_a_typed_error_and_changes_nothing(
    app: Starlette, variables: dict[str, Any], code: str, field: str
) -> None:
    # given: a valid change sent along with the invalid one
    member = await create_member(display_name="Maya")
    before = await _profile(member)

    # when
    result = await execute(app, UPDATE_PROFILE, {"marketingConsent": True, **variables}, as_=member)

    # then
    assert result.errors is None
    assert result.data["updateProfile"] == {
        "member": None,
        "errors": [{"code": code, "field": field}],
    }
    assert await _profile(member) == before


async def test_update_profile_is_unauthenticated_for_anonymous_callers(app: Starlette) -> None:
    result = await execute(app, UPDATE_PROFILE, {"displayName": "Anyone"})

    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["UNAUTHENTICATED"]


async def test_update_profile_is_forbidden_to_devices(app: Starlette) -> None:
    # given
    kiosk = await create_device()
    member = await create_member(display_name="Maya")
    before = await _profile(member)

    # when
    result = await execute(app, UPDATE_PROFILE, {"displayName": "Kiosk"}, as_=kiosk)

    # then
    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert await _profile(member) == before
