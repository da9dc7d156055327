"""`createMatchingCampaign`: admins have the brand match donations to a cause, at a ratio and
within caps. A refused campaign writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.causes import catalog as causes_catalog
from gamification.causes import matching as causes_matching
from gamification.causes.models import Cause, MatchingCampaign
from gamification.members.models import Role
from schema.relay import to_global_id
from tests.factories import create_cause, create_matching_campaign, create_member, execute

CREATE_CAMPAIGN = """
mutation CreateCampaign($input: CreateMatchingCampaignInput!) {
  createMatchingCampaign(input: $input) {
    campaign { id causeId ratio totalCap perMemberCap matchedTotal remaining startsAt endsAt }
    errors { code field message }
  }
}
"""

ENDS = (datetime.now(UTC) + timedelta(days=30)).isoformat()


def _input(cause: Cause | int, **changes: Any) -> dict[str, Any]:
    pk = cause if isinstance(cause, int) else cause.id
    values: dict[str, Any] = {
        "causeId": to_global_id("Cause", pk),
        "ratio": "1",
        "totalCap": 50_000,
        "perMemberCap": 2000,
        "endsAt": ENDS,
    }
    return {"input": {**values, **changes}}


async def _admin() -> Any:
    return await create_member(role=Role.ADMIN)


def codes(result: Any) -> list[tuple[str, str | None]]:
    assert result.errors is None, result.errors
    payload = result.data["createMatchingCampaign"]
    assert payload["campaign"] is None
    return [(e["code"], e["field"]) for e in payload["errors"]]


async def test_an_admin_starts_a_campaign_and_the_cause_shows_it(app: Starlette) -> None:
    # given
    cause = await create_cause()

    # when
    result = await execute(app, CREATE_CAMPAIGN, _input(cause, ratio="1.5"), as_=await _admin())

    # then
    payload = result.data["createMatchingCampaign"]
    assert payload["errors"] == []
    campaign = await MatchingCampaign.get()
    shown = payload["campaign"]
    assert shown["id"] == to_global_id("MatchingCampaign", campaign.id)
    assert shown["causeId"] == to_global_id("Cause", cause.id)
    assert (shown["ratio"], shown["totalCap"], shown["perMemberCap"]) == ("1.5000", 50_000, 2000)
    assert (shown["matchedTotal"], shown["remaining"]) == (0, 50_000)
    assert (await causes_matching.active_campaigns([cause.id]))[cause.id].id == campaign.id


@pytest.mark.parametrize("ratio", ["0", "-0.5", "10.5"])
async def test_a_ratio_not_above_0_or_above_10_is_refused(app: Starlette, ratio: str) -> None:
    cause = await create_cause()

    result = await execute(app, CREATE_CAMPAIGN, _input(cause, ratio=ratio), as_=await _admin())

    assert codes(result) == [("INVALID_RATIO", "ratio")]
    assert await MatchingCampaign.all().count() == 0


@pytest.mark.parametrize("field", ["totalCap", "perMemberCap"])
async def test_a_negative_cap_is_refused(app: Starlette, field: str) -> None:
    cause = await create_cause()

    result = await execute(app, CREATE_CAMPAIGN, _input(cause, **{field: -1}), as_=await _admin())

    assert codes(result) == [("INVALID_CAP", field)]
    assert await MatchingCampaign.all().count() == 0


async def test_caps_of_zero_and_no_per_member_cap_are_allowed(app: Starlette) -> None:
    cause = await create_cause()

    result = await execute(
        app, CREATE_CAMPAIGN, _input(cause, totalCap=0, perMemberCap=None), as_=await _admin()
    )

    shown = result.data["createMatchingCampaign"]["campaign"]
    assert (shown["totalCap"], shown["perMemberCap"]) == (0, None)


async def test_an_end_before_the_start_is_refused(app: Starlette) -> None:
    cause = await create_cause()
    starts = (datetime.now(UTC) + timedelta(days=40)).isoformat()

    result = await execute(app, CREATE_CAMPAIGN, _input(cause, startsAt=starts), as_=await _admin())

    assert codes(result) == [("INVALID_INPUT", "endsAt")]
    assert await MatchingCampaign.all().count() == 0


async def test_an_unknown_cause_is_refused(app: Starlette) -> None:
    result = await execute(app, CREATE_CAMPAIGN, _input(4242), as_=await _admin())

    assert codes(result) == [("CAUSE_NOT_FOUND", "causeId")]
    assert await MatchingCampaign.all().count() == 0


async def test_a_closed_cause_is_refused(app: Starlette) -> None:
    cause = await create_cause()
    await causes_catalog.close_cause(cause.id)

    result = await execute(app, CREATE_CAMPAIGN, _input(cause), as_=await _admin())

    assert codes(result) == [("CAUSE_CLOSED", "causeId")]
    assert await MatchingCampaign.all().count() == 0


async def test_a_campaign_overlapping_another_is_refused(app: Starlette) -> None:
    cause = await create_cause()
    await create_matching_campaign(cause=cause)

    result = await execute(app, CREATE_CAMPAIGN, _input(cause), as_=await _admin())

    assert codes(result) == [("INVALID_INPUT", "startsAt")]
    assert await MatchingCampaign.all().count() == 1


async def test_members_cannot_start_campaigns(app: Starlette) -> None:
    cause = await create_cause()

    result = await execute(app, CREATE_CAMPAIGN, _input(cause), as_=await create_member())

    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert await MatchingCampaign.all().count() == 0
