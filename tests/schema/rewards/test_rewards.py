"""The catalog through GraphQL: `rewards`, `createReward`, `updateReward` and Reward nodes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.members.models import Role
from gamification.rewards.models import Reward
from gamification.stores.models import Channel
from schema.relay import to_global_id
from tests.factories import create_device, create_member, create_reward, credit_points, execute

YESTERDAY = datetime.now(UTC) - timedelta(days=1)

REWARDS = """
query Rewards($first: Int, $after: String, $channel: Channel, $affordable: Boolean,
              $category: String) {
  rewards(first: $first, after: $after, channel: $channel, affordable: $affordable,
          category: $category) {
    edges { cursor node { id name costPoints channels category active stock } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

CREATE_REWARD = """
mutation CreateReward($input: CreateRewardInput!) {
  createReward(input: $input) {
    reward {
      id name kind costPoints stock perMemberLimit limitPeriod channels category
      validFrom validTo voucherValidDays active
    }
    errors { code field message }
  }
}
"""

UPDATE_REWARD = """
mutation UpdateReward($rewardId: ID!, $input: UpdateRewardInput!) {
  updateReward(rewardId: $rewardId, input: $input) {
    reward { id name costPoints stock active channels }
    errors { code field message }
  }
}
"""

NODE = """
query Node($id: ID!) {
  node(id: $id) { __typename id ... on Reward { name } }
}
"""


def _names(result: Any) -> list[str]:
    assert result.errors is None, result.errors
    return [edge["node"]["name"] for edge in result.data["rewards"]["edges"]]


async def test_a_member_sees_the_rewards_offered_now(app: Starlette) -> None:
    # given
    member = await create_member()
    await create_reward(name="Tote bag")
    await create_reward(name="Retired", active=False)
    await create_reward(name="Over", valid_to=YESTERDAY)

    # when
    result = await execute(app, REWARDS, as_=member)

    # then
    assert _names(result) == ["Tote bag"]


async def test_an_admin_sees_inactive_rewards_too(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)
    await create_reward(name="Tote bag")
    await create_reward(name="Retired", active=False)

    result = await execute(app, REWARDS, as_=admin)

    assert _names(result) == ["Tote bag", "Retired"]


async def test_rewards_filter_by_channel(app: Starlette) -> None:
    member = await create_member()
    await create_reward(name="Everywhere")
    await create_reward(name="Web only", channels=(Channel.WEB,))
    await create_reward(name="Kiosk only", channels=(Channel.KIOSK,))

    result = await execute(app, REWARDS, {"channel": "WEB"}, as_=member)

    assert _names(result) == ["Everywhere", "Web only"]


async def test_rewards_filter_by_what_the_member_can_afford(app: Starlette) -> None:
    member = await create_member()
    await credit_points(member=member, points=200)
    await create_reward(name="Coffee", cost_points=150)
    await create_reward(name="Bike", cost_points=20_000)

    result = await execute(app, REWARDS, {"affordable": True}, as_=member)

    assert _names(result) == ["Coffee"]


async def test_rewards_filter_by_category(app: Starlette) -> None:
    member = await create_member()
    await create_reward(name="Coffee", category="food")
    await create_reward(name="Tote bag", category="eco")

    result = await execute(app, REWARDS, {"category": "eco"}, as_=member)

    assert _names(result) == ["Tote bag"]


async def test_rewards_page_with_cursors(app: Starlette) -> None:
    # given
    member = await create_member()
    for name in ["A", "B", "C"]:
        await create_reward(name=name)

    # when
    first = await execute(app, REWARDS, {"first": 2}, as_=member)
    cursor = first.data["rewards"]["pageInfo"]["endCursor"]
    rest = await execute(app, REWARDS, {"first": 2, "after": cursor}, as_=member)

    # then
    assert _names(first) == ["A", "B"]
    assert first.data["rewards"]["pageInfo"]["hasNextPage"] is True
    assert _names(rest) == ["C"]
    assert rest.data["rewards"]["pageInfo"] == {
        "hasNextPage": False,
        "endCursor": rest.data["rewards"]["edges"][-1]["cursor"],
    }


async def test_a_page_larger_than_the_limit_is_refused(app: Starlette) -> None:
    member = await create_member()

    result = await execute(
        app, REWARDS, {"first": app.state.settings.max_page_size + 1}, as_=member
    )

    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["PAGE_SIZE_TOO_LARGE"]


async def test_a_forged_cursor_is_refused(app: Starlette) -> None:
    member = await create_member()

    result = await execute(app, REWARDS, {"after": "not-a-cursor"}, as_=member)

    assert [e.extensions["code"] for e in result.errors] == ["INVALID_CURSOR"]


async def test_a_kiosk_sees_the_rewards_of_its_channel(app: Starlette) -> None:
    kiosk = await create_device(channel=Channel.KIOSK)
    await create_reward(name="Everywhere")
    await create_reward(name="App only", channels=(Channel.APP,))

    result = await execute(app, REWARDS, as_=kiosk)

    assert _names(result) == ["Everywhere"]


async def test_an_admin_creates_a_reward(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)

    # when
    result = await execute(
        app,
        CREATE_REWARD,
        {
            "input": {
                "name": "Tote bag",
                "kind": "PRODUCT",
                "costPoints": 300,
                "stock": 20,
                "perMemberLimit": 1,
                "limitPeriod": "MONTH",
                "channels": ["KIOSK", "APP"],
                "category": "eco",
                "validTo": "2030-01-01T00:00:00+00:00",
            }
        },
        as_=admin,
    )

    # then
    payload = result.data["createReward"]
    assert payload["errors"] == []
    reward = await Reward.get()
    assert payload["reward"] == {
        "id": to_global_id("Reward", reward.id),
        "name": "Tote bag",
        "kind": "PRODUCT",
        "costPoints": 300,
        "stock": 20,
        "perMemberLimit": 1,
        "limitPeriod": "MONTH",
        "channels": ["APP", "KIOSK"],
        "category": "eco",
        "validFrom": None,
        "validTo": "2030-01-01T00:00:00+00:00",
        "voucherValidDays": 30,
        "active": True,
    }


async def test_an_invalid_reward_is_refused_with_its_field(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)

    result = await execute(
        app,
        CREATE_REWARD,
        {"input": {"name": "Tote bag", "kind": "PRODUCT", "costPoints": 0}},
        as_=admin,
    )

    errors = result.data["createReward"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("INVALID_AMOUNT", "costPoints")]
    assert result.data["createReward"]["reward"] is None
    assert await Reward.all().count() == 0


@pytest.mark.parametrize("role", [Role.MEMBER, Role.STAFF])
async def test_only_admins_create_rewards(app: Starlette, role: Role) -> None:
    caller = await create_member(role=role)

    result = await execute(
        app,
        CREATE_REWARD,
        {"input": {"name": "Tote bag", "kind": "PRODUCT", "costPoints": 10}},
        as_=caller,
    )

    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert await Reward.all().count() == 0


async def test_an_admin_updates_some_fields_of_a_reward(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)
    reward = await create_reward(name="Tote bag", cost_points=300, stock=4)

    # when
    result = await execute(
        app,
        UPDATE_REWARD,
        {
            "rewardId": to_global_id("Reward", reward.id),
            "input": {"costPoints": 250, "stock": None, "channels": ["WEB"]},
        },
        as_=admin,
    )

    # then
    payload = result.data["updateReward"]
    assert payload["errors"] == []
    assert payload["reward"] == {
        "id": to_global_id("Reward", reward.id),
        "name": "Tote bag",
        "costPoints": 250,
        "stock": None,
        "active": True,
        "channels": ["WEB"],
    }


async def test_a_field_that_cannot_be_empty_cannot_be_set_to_null(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)
    reward = await create_reward(name="Tote bag")

    result = await execute(
        app,
        UPDATE_REWARD,
        {"rewardId": to_global_id("Reward", reward.id), "input": {"name": None}},
        as_=admin,
    )

    errors = result.data["updateReward"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", "name")]
    assert (await Reward.get(id=reward.id)).name == "Tote bag"


async def test_updating_an_unknown_reward_is_refused(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)

    result = await execute(
        app,
        UPDATE_REWARD,
        {"rewardId": to_global_id("Reward", 4242), "input": {"active": False}},
        as_=admin,
    )

    errors = result.data["updateReward"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("REWARD_NOT_FOUND", "rewardId")]


async def test_a_member_cannot_update_a_reward(app: Starlette) -> None:
    member = await create_member()
    reward = await create_reward(cost_points=300)

    result = await execute(
        app,
        UPDATE_REWARD,
        {"rewardId": to_global_id("Reward", reward.id), "input": {"costPoints": 1}},
        as_=member,
    )

    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert (await Reward.get(id=reward.id)).cost_points == 300


async def test_a_member_reads_an_offered_reward_node(app: Starlette) -> None:
    member = await create_member()
    reward = await create_reward(name="Tote bag")
    reward_id = to_global_id("Reward", reward.id)

    result = await execute(app, NODE, {"id": reward_id}, as_=member)

    assert result.data["node"] == {"__typename": "Reward", "id": reward_id, "name": "Tote bag"}


async def test_an_inactive_reward_node_is_null_for_members_but_not_for_admins(
    app: Starlette,
) -> None:
    member = await create_member()
    admin = await create_member(role=Role.ADMIN)
    reward = await create_reward(name="Retired", active=False)
    reward_id = to_global_id("Reward", reward.id)

    as_member = await execute(app, NODE, {"id": reward_id}, as_=member)
    as_admin = await execute(app, NODE, {"id": reward_id}, as_=admin)

    assert as_member.data["node"] is None
    assert as_admin.data["node"]["name"] == "Retired"
