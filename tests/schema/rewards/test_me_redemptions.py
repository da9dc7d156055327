"""A member's redemptions: `me { redemptions }` and `node(id:)` on a Redemption, which only its
member, admins and the store where it was made can see."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.members.models import Member, Role
from gamification.rewards import redemptions
from gamification.rewards.models import Redemption
from gamification.stores.models import Channel
from schema.relay import to_global_id
from tests.factories import (
    actor_of,
    consent_of,
    create_device,
    create_member,
    create_reward,
    create_store,
    credit_points,
    execute,
    redeem_reward,
)

MY_REDEMPTIONS = """
query MyRedemptions($first: Int, $after: String, $status: RedemptionStatus) {
  me {
    redemptions(first: $first, after: $after, status: $status) {
      edges { cursor node { id status points channel reward { name } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

NODE = """
query Node($id: ID!) {
  node(id: $id) { __typename id ... on Redemption { status voucherCode reward { name } } }
}
"""


def _rewards_of(result: Any) -> list[str]:
    assert result.errors is None, result.errors
    return [e["node"]["reward"]["name"] for e in result.data["me"]["redemptions"]["edges"]]


async def _member_with_redemptions(*names: str) -> tuple[Member, list[Redemption]]:
    member = await create_member()
    await credit_points(member=member, points=1000)
    made = []
    for name in names:
        reward = await create_reward(name=name, cost_points=10)
        made.append(await redeem_reward(member=member, reward=reward))
    return member, made


async def test_my_redemptions_are_listed_newest_first(app: Starlette) -> None:
    # given
    member, made = await _member_with_redemptions("Coffee", "Tote bag")

    # when
    result = await execute(app, MY_REDEMPTIONS, as_=member)

    # then
    assert _rewards_of(result) == ["Tote bag", "Coffee"]
    first = result.data["me"]["redemptions"]["edges"][0]["node"]
    assert first == {
        "id": to_global_id("Redemption", made[1].id),
        "status": "ISSUED",
        "points": 10,
        "channel": "APP",
        "reward": {"name": "Tote bag"},
    }


async def test_other_members_redemptions_are_not_mine(app: Starlette) -> None:
    member, _ = await _member_with_redemptions("Coffee")
    await _member_with_redemptions("Tote bag")

    result = await execute(app, MY_REDEMPTIONS, as_=member)

    assert _rewards_of(result) == ["Coffee"]


async def test_my_redemptions_filter_by_status(app: Starlette) -> None:
    # given
    member, made = await _member_with_redemptions("Coffee", "Tote bag", "Mug")
    await redemptions.cancel_redemption(
        actor=actor_of(member), redemption_id=made[1].id, idempotency_key="cancel"
    )

    # when
    cancelled = await execute(app, MY_REDEMPTIONS, {"status": "CANCELLED"}, as_=member)
    issued = await execute(app, MY_REDEMPTIONS, {"status": "ISSUED"}, as_=member)

    # then
    assert _rewards_of(cancelled) == ["Tote bag"]
    assert _rewards_of(issued) == ["Mug", "Coffee"]


async def test_my_redemptions_page_with_cursors(app: Starlette) -> None:
    # given
    member, _ = await _member_with_redemptions("A", "B", "C")

    # when
    first = await execute(app, MY_REDEMPTIONS, {"first": 2}, as_=member)
    cursor = first.data["me"]["redemptions"]["pageInfo"]["endCursor"]
    rest = await execute(app, MY_REDEMPTIONS, {"first": 2, "after": cursor}, as_=member)

    # then
    assert _rewards_of(first) == ["C", "B"]
    assert first.data["me"]["redemptions"]["pageInfo"]["hasNextPage"] is True
    assert _rewards_of(rest) == ["A"]
    assert rest.data["me"]["redemptions"]["pageInfo"]["hasNextPage"] is False


async def test_a_page_larger_than_the_limit_is_refused(app: Starlette) -> None:
    member = await create_member()

    result = await execute(
        app, MY_REDEMPTIONS, {"first": app.state.settings.max_page_size + 1}, as_=member
    )

    assert [e.extensions["code"] for e in result.errors] == ["PAGE_SIZE_TOO_LARGE"]


async def test_a_redemption_without_a_reward_lists_a_null_reward(app: Starlette) -> None:
    # given: points spent at a kiosk, not on a reward
    member = await create_member()
    await credit_points(member=member, points=100)
    kiosk = await create_device(channel=Channel.KIOSK)
    await redemptions.redeem(
        actor=actor_of(kiosk),
        request=redemptions.RedemptionRequest(
            consent=consent_of(member.id), channel=Channel.KIOSK, points=40
        ),
        idempotency_key="kiosk-1",
    )

    # when
    result = await execute(app, MY_REDEMPTIONS, as_=member)

    # then
    (edge,) = result.data["me"]["redemptions"]["edges"]
    assert (edge["node"]["points"], edge["node"]["reward"]) == (40, None)


async def test_i_read_my_redemption_node(app: Starlette) -> None:
    member, (redemption,) = await _member_with_redemptions("Coffee")
    redemption_id = to_global_id("Redemption", redemption.id)

    result = await execute(app, NODE, {"id": redemption_id}, as_=member)

    assert result.data["node"] == {
        "__typename": "Redemption",
        "id": redemption_id,
        "status": "ISSUED",
        "voucherCode": redemption.voucher_code,
        "reward": {"name": "Coffee"},
    }


async def test_another_members_redemption_node_is_null(app: Starlette) -> None:
    _, (redemption,) = await _member_with_redemptions("Coffee")
    snoop = await create_member()

    result = await execute(app, NODE, {"id": to_global_id("Redemption", redemption.id)}, as_=snoop)

    assert result.errors is None
    assert result.data["node"] is None


async def test_an_admin_reads_any_redemption_node(app: Starlette) -> None:
    _, (redemption,) = await _member_with_redemptions("Coffee")
    admin = await create_member(role=Role.ADMIN)

    result = await execute(app, NODE, {"id": to_global_id("Redemption", redemption.id)}, as_=admin)

    assert result.data["node"]["voucherCode"] == redemption.voucher_code


@pytest.mark.parametrize("same_store", [True, False])
async def test_the_store_where_it_was_redeemed_reads_the_node(
    app: Starlette, same_store: bool
) -> None:
    # given: redeemed at a kiosk
    store = await create_store()
    kiosk = await create_device(store=store, channel=Channel.KIOSK)
    member = await create_member()
    await credit_points(member=member, points=100)
    redemption = await redeem_reward(
        member=member, reward=await create_reward(cost_points=10), device=kiosk
    )
    cashier = await create_member(
        role=Role.STAFF, store=store if same_store else await create_store()
    )
    till = await create_device(store=store if same_store else await create_store())

    # when
    node_id = {"id": to_global_id("Redemption", redemption.id)}
    as_staff = await execute(app, NODE, node_id, as_=cashier)
    as_till = await execute(app, NODE, node_id, as_=till)

    # then
    assert (as_staff.data["node"] is not None) is same_store
    assert (as_till.data["node"] is not None) is same_store


async def test_an_app_redemption_node_is_null_for_a_store(app: Starlette) -> None:
    _, (redemption,) = await _member_with_redemptions("Coffee")
    till = await create_device(channel=Channel.POS)

    result = await execute(app, NODE, {"id": to_global_id("Redemption", redemption.id)}, as_=till)

    assert result.data["node"] is None
