"""Object-level authorization: another member's data is out of reach by every path: `me`,
`node(id:)` with real and forged global IDs, connections and nested fields, as a member, as a
device or staff member of another store (a device whose id equals the victim's too), and admin
mutations are refused to everyone but admins."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    get_named_type,
)
from starlette.applications import Starlette
from strawberry.utils.str_converters import to_camel_case

from gamification.ledger.models import LedgerEntry
from gamification.members.models import Member, Role
from gamification.stores.models import Channel, Device
from schema.permissions import IsAdmin
from schema.relay import to_global_id
from schema.schema import Mutation
from tests.factories import (
    create_cause,
    create_device,
    create_earn_rule,
    create_member,
    create_purchase,
    create_reward,
    create_store,
    credit_points,
    donate,
    execute,
    hold_member_points,
    redeem_reward,
    schema_for,
)

NODE = """
query Node($id: ID!) {
  node(id: $id) {
    id
    ... on Member { email points { balance } ledger { edges { node { id } } } }
  }
}
"""


@dataclass
class Victim:
    member: Member
    ids: dict[str, str]  # type name -> a global ID of one of the victim's objects


async def _victim() -> Victim:
    await create_earn_rule()
    store = await create_store()
    kiosk = await create_device(store=store, channel=Channel.KIOSK)
    member = await create_member()
    await credit_points(member=member, points=1000)
    purchase = await create_purchase(member=member, recorded_by=kiosk)
    redemption = await redeem_reward(member=member, reward=await create_reward(cost_points=10))
    donation = await donate(member=member, cause=await create_cause(), points=10)
    till = await create_device(store=store, channel=Channel.POS)
    hold = await hold_member_points(member=member, device=till, points=5)
    entry = await LedgerEntry.filter(account__member_id=member.id).first()
    assert entry is not None
    return Victim(
        member=member,
        ids={
            "Member": to_global_id("Member", member.id),
            "LedgerEntry": to_global_id("LedgerEntry", entry.id),
            "Purchase": to_global_id("Purchase", purchase.id),
            "Redemption": to_global_id("Redemption", redemption.id),
            "Donation": to_global_id("Donation", donation.id),
            "PointsHold": to_global_id("PointsHold", hold.id),
        },
    )


async def _intruders(victim: Victim) -> dict[str, Member | Device]:
    other_store = await create_store()
    same_id_device = await Device.filter(id=victim.member.id).first()
    intruders: dict[str, Member | Device] = {
        "member": await create_member(),
        "staff of another store": await create_member(role=Role.STAFF, store=other_store),
        "kiosk of another store": await create_device(store=other_store, channel=Channel.KIOSK),
        "till of another store": await create_device(store=other_store, channel=Channel.POS),
    }
    if same_id_device is None:
        # A device whose id is the victim's member id: ids of different kinds must not mix.
        intruders["device with the victim's id"] = await Device.create(
            id=victim.member.id,
            name="same id",
            store=other_store,
            channel=Channel.POS,
            credential_id=uuid.uuid4(),
        )
    return intruders


def _forged(victim: Victim) -> list[str]:
    """Hand-made IDs for the victim's objects, in shapes the API never issues."""
    pk = victim.member.id

    def encode(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return [
        encode(f"Member:{pk}"),  # padded base64
        encode(f"Member:0{pk}"),
        encode(f"Member: {pk}"),
        encode(f"member:{pk}"),
        encode(f"Member:{pk}:extra"),
        encode(f"Node:{pk}"),
        f"Member:{pk}",
        str(pk),
    ]


async def test_no_intruder_reads_the_victims_objects_by_node(app: Starlette) -> None:
    # given
    victim = await _victim()
    intruders = await _intruders(victim)

    # when / then: every object, every intruder
    for who, intruder in intruders.items():
        for type_name, global_id in victim.ids.items():
            result = await execute(app, NODE, {"id": global_id}, as_=intruder)
            assert result.errors is None, (who, type_name, result.errors)
            assert result.data == {"node": None}, (who, type_name)


async def test_forged_ids_reach_nothing(app: Starlette) -> None:
    victim = await _victim()
    intruder = await create_member()

    for forged in _forged(victim):
        result = await execute(app, NODE, {"id": forged}, as_=intruder)
        assert result.data == {"node": None}, forged


async def test_the_owner_reads_every_object(app: Starlette) -> None:
    # the control: the same paths work for the victim themself
    victim = await _victim()

    for type_name, global_id in victim.ids.items():
        result = await execute(app, NODE, {"id": global_id}, as_=victim.member)
        assert result.data["node"]["id"] == global_id, type_name


@pytest.mark.parametrize(
    "query",
    [
        "{ me { email } }",
        "{ me { ledger { edges { node { id } } } } }",
        "{ me { redemptions { edges { node { id } } } } }",
        "{ me { donations { edges { node { id } } } } }",
    ],
)
async def test_devices_have_no_me(app: Starlette, query: str) -> None:
    victim = await _victim()
    intruders = await _intruders(victim)

    for who, intruder in intruders.items():
        if isinstance(intruder, Member):
            continue
        result = await execute(app, query, as_=intruder)
        assert result.data is None, who
        assert result.errors[0].extensions["code"] == "FORBIDDEN", who


async def test_me_is_always_the_caller(app: Starlette) -> None:
    victim = await _victim()
    intruder = await create_member()

    result = await execute(
        app,
        "{ me { id ledger { edges { node { id } } } redemptions { edges { node { id } } } "
        "donations { edges { node { id } } } } }",
        as_=intruder,
    )

    assert result.data["me"] == {
        "id": to_global_id("Member", intruder.id),
        "ledger": {"edges": []},
        "redemptions": {"edges": []},
        "donations": {"edges": []},
    }
    assert victim.ids["Member"] != result.data["me"]["id"]


@pytest.mark.parametrize("connection", ["members", "devices"])
async def test_admin_connections_are_refused(app: Starlette, connection: str) -> None:
    victim = await _victim()
    intruders = await _intruders(victim)

    for who, intruder in intruders.items():
        result = await execute(
            app, f"{{ {connection} {{ edges {{ node {{ id }} }} }} }}", as_=intruder
        )
        assert result.data is None, who
        assert result.errors[0].extensions["code"] == "FORBIDDEN", who


def test_member_objects_are_reachable_only_through_guarded_fields(app: Starlette) -> None:
    """Every field typed `Member` in the schema: a new path must be added here deliberately."""
    schema = schema_for(app.state.settings)._schema
    paths = {
        f"{type_name}.{field_name}"
        for type_name, type_ in schema.type_map.items()
        if isinstance(type_, GraphQLObjectType) and not type_name.startswith("__")
        for field_name, field in type_.fields.items()
        if get_named_type(field.type).name == "Member"
    }

    # me: the caller; the payloads: the caller's own sign-in or profile; the edges of the
    # admins' `members` connection. `node` is typed Node (see the node tests above).
    assert paths == {
        "Query.me",
        "AuthPayload.member",
        "UpdateProfilePayload.member",
        "MemberEdge.node",
    }


def _dummy(type_: GraphQLInputType) -> str:
    """A literal of `type_` that passes validation."""
    if isinstance(type_, GraphQLNonNull):
        return _dummy(type_.of_type)
    if isinstance(type_, GraphQLList):
        return "[]"
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        fields = [
            f"{name}: {_dummy(field.type)}"
            for name, field in type_.fields.items()
            if isinstance(field.type, GraphQLNonNull)
        ]
        return "{" + ", ".join(fields) + "}"
    assert isinstance(type_, GraphQLScalarType)
    return {
        "Int": "1",
        "Float": "1.0",
        "Boolean": "true",
        "DateTime": '"2026-01-01T00:00:00+00:00"',
        "Date": '"2000-01-01"',
        "Decimal": '"1"',
    }.get(type_.name, '"x"')


ADMIN_ONLY = {
    "create_store",
    "register_device",
    "revoke_device",
    "adjust_points",
    "set_earn_rule",
    "create_earn_promotion",
    "create_reward",
    "update_reward",
    "reverse_donation",
    "create_cause",
    "update_cause",
    "close_cause",
    "create_matching_campaign",
}


def _admin_mutations() -> list[str]:
    definition = Mutation.__strawberry_definition__  # type: ignore[attr-defined]
    return [field.python_name for field in definition.fields if IsAdmin in field.permission_classes]


async def test_every_admin_mutation_refuses_everyone_else(app: Starlette) -> None:
    # given: every Mutation field guarded by IsAdmin, called with valid-looking arguments
    schema = schema_for(app.state.settings)._schema
    names = _admin_mutations()
    # The walk finds them by their IsAdmin; these must never lose it.
    assert set(names) >= ADMIN_ONLY
    victim = await _victim()
    intruders = await _intruders(victim)
    mutation_type = schema.mutation_type
    assert mutation_type is not None

    for python_name in names:
        graphql_name = to_camel_case(python_name)
        field = mutation_type.fields[graphql_name]
        args = ", ".join(
            f"{name}: {_dummy(arg.type)}"
            for name, arg in field.args.items()
            if isinstance(arg.type, GraphQLNonNull)
        )
        document = f"mutation {{ {graphql_name}{f'({args})' if args else ''} {{ __typename }} }}"
        for who, intruder in intruders.items():
            # when
            result = await execute(app, document, as_=intruder)
            # then
            assert result.errors, (graphql_name, who)
            codes = [e.extensions.get("code") if e.extensions else e.message for e in result.errors]
            assert codes == ["FORBIDDEN"], (graphql_name, who, codes)
