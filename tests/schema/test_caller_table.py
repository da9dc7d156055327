"""The caller table (`tests/schema/caller_table.py`, shown in docs/consent.md) against the live
schema: every mutation has a row, every cell answers what the table says, and no call takes a
point out of member M's account unless its row names the caller's proof."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLNamedType, get_named_type
from starlette.applications import Starlette

from channels import redemption_requests
from gamification.ledger import points
from gamification.members.models import Role
from gamification.stores.models import Channel
from gamification.webhooks import deliveries, endpoints
from gamification.webhooks.models import WebhookDelivery
from server.settings import Settings
from tests.factories import (
    actor_of,
    create_cause,
    create_challenge,
    create_device,
    create_earn_rule,
    create_eco_kind,
    create_member,
    create_purchase,
    create_reward,
    create_store,
    credit_points,
    donate,
    execute,
    hold_member_points,
    issue_redemption_token,
    redeem_reward,
    schema_for,
)
from tests.schema.caller_table import CALLERS, ROWS_BY_MUTATION, World, markdown_table

_worlds = itertools.count(1)
_CONSENT_DOC = Path(__file__).resolve().parents[2] / "docs" / "consent.md"


async def _world(app: Starlette, settings: Settings) -> World:
    n = next(_worlds)
    store, elsewhere = await create_store(), await create_store()
    member = await create_member()
    other = await create_member()
    await credit_points(member=member, points=1000)
    till = await create_device(store=store, channel=Channel.POS)
    kiosk = await create_device(store=store, channel=Channel.KIOSK)
    reward = await create_reward(cost_points=100, channels=(Channel.APP, Channel.KIOSK))
    cause = await create_cause(points_per_unit=10)
    await create_earn_rule()
    eco_kind = await create_eco_kind(code=f"eco{n}")
    request, _ = await redemption_requests.request_redemption(
        redis=app.state.redis,
        actor=actor_of(kiosk),
        card_number=member.card_number,
        member_id=None,
        reward_id=None,
        points=50,
        reference=f"world-{n}",
        settings=settings,
    )
    endpoint = await endpoints.create_endpoint(url="https://93.184.215.14/hooks")
    await deliveries.fan_out()
    delivery = await WebhookDelivery.filter(endpoint_id=endpoint.id, member_id=member.id).first()
    assert delivery is not None
    return World(
        member=member,
        other=other,
        staff=await create_member(role=Role.STAFF, store=store),
        admin=await create_member(role=Role.ADMIN),
        kiosk=kiosk,
        till=till,
        web=await create_device(store=store, channel=Channel.WEB),
        kiosk_elsewhere=await create_device(store=elsewhere, channel=Channel.KIOSK),
        reward=reward,
        cause=cause,
        purchase=await create_purchase(member=member, recorded_by=till),
        redemption=await redeem_reward(member=member, reward=reward),
        hold=await hold_member_points(member=member, device=till, points=100),
        donation_id=(await donate(member=member, cause=cause, points=50)).id,
        reward_code=await issue_redemption_token(
            member=member, settings=settings, reward_id=reward.id
        ),
        points_code=await issue_redemption_token(member=member, settings=settings, points=50),
        donation_code=await issue_redemption_token(
            member=member, settings=settings, points=50, cause_id=cause.id
        ),
        request_id=request.id,
        challenge_id=(await create_challenge(opt_in=True)).id,
        eco_kind_code=eco_kind.code,
        eco_kind_id=eco_kind.id,
        webhook_endpoint_id=endpoint.id,
        webhook_delivery_id=delivery.id,
        n=n,
    )


def _document(mutation: str, args: dict[str, Any], settings: Settings) -> str:
    """`mutation(...) { field(args) { __typename errors { code } } }`, typed from the schema."""
    field = schema_for(settings)._schema.mutation_type.fields[mutation]  # type: ignore[union-attr]
    declared = ", ".join(f"${name}: {field.args[name].type}" for name in args)
    passed = ", ".join(f"{name}: ${name}" for name in args)
    payload: GraphQLNamedType = get_named_type(field.type)
    selection = "__typename"
    if "errors" in getattr(payload, "fields", {}):
        selection += " errors { code }"
    head = f"mutation({declared})" if args else "mutation"
    call = f"{mutation}({passed})" if args else mutation
    return f"{head} {{ {call} {{ {selection} }} }}"


def _outcome(result: Any, mutation: str) -> str:
    if result.errors:
        return str(result.errors[0].extensions.get("code", result.errors[0].message))
    errors = result.data[mutation].get("errors") or []
    return str(errors[0]["code"]) if errors else "ok"


async def _member_points(world: World) -> tuple[int, int]:
    summary = await points.summary(world.member.id)
    return summary.balance, summary.available


def test_every_mutation_of_the_schema_has_a_row(settings: Settings) -> None:
    mutations = schema_for(settings)._schema.mutation_type.fields  # type: ignore[union-attr]
    assert set(ROWS_BY_MUTATION) == set(mutations)


def test_the_docs_show_the_table() -> None:
    assert markdown_table() in _CONSENT_DOC.read_text()


@pytest.mark.parametrize("mutation", sorted(ROWS_BY_MUTATION))
async def test_each_caller_gets_what_the_table_says(
    app: Starlette, settings: Settings, mutation: str
) -> None:
    row = ROWS_BY_MUTATION[mutation]
    seen: dict[str, str] = {}
    debits: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {}
    for caller in CALLERS:
        # given: a scene of its own, so that one caller's success does not decide the next
        world = await _world(app, settings)
        args = row.args(world)
        before = await _member_points(world)

        # when
        result = await execute(
            app, _document(mutation, args, settings), args, as_=world.caller(caller)
        )

        # then
        seen[caller] = _outcome(result, mutation)
        after = await _member_points(world)
        if after[0] < before[0] or after[1] < before[1]:
            debits[caller] = (before, after)
    assert seen == row.answers
    for caller, (before, after) in debits.items():
        assert caller in row.debit_proof, (
            f"{caller} took points from M without proof: {before} -> {after}"
        )
        assert seen[caller] == "ok"
