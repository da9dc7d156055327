"""Keyword-only factories and helpers shared by the tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import strawberry
from argon2 import PasswordHasher
from starlette.applications import Starlette

from channels.credentials import issue_device_token, issue_member_token
from gamification.actors import Actor, ActorKind
from gamification.members.models import Member, Role
from gamification.members.profiles import new_card_number
from gamification.stores.models import Channel, Device, Store
from schema.context import Context
from schema.schema import build_schema
from server.settings import Settings

TEST_JWT_SECRET = "test-secret-that-is-at-least-32-bytes-long"
PASSWORD = "correct horse battery"
# Hashed once: Argon2 is slow on purpose, and most tests only need a member to exist.
PASSWORD_HASH = PasswordHasher().hash(PASSWORD)

# `override_settings(...)` (a fixture in tests/conftest.py): the domain reads these for the test.
OverrideSettings = Callable[..., Settings]

_sequence = itertools.count(1)


async def create_store(*, code: str | None = None, timezone: str = "UTC") -> Store:
    n = next(_sequence)
    return await Store.create(code=code or f"STORE{n}", name=f"Store {n}", timezone=timezone)


async def create_member(
    *,
    email: str | None = None,
    display_name: str | None = None,
    role: Role = Role.MEMBER,
    store: Store | None = None,
    timezone: str = "UTC",
) -> Member:
    n = next(_sequence)
    return await Member.create(
        email=email or f"member{n}@example.com",
        password_hash=PASSWORD_HASH,
        display_name=display_name or f"Member {n}",
        role=role,
        store=store,
        timezone=timezone,
        card_number=new_card_number(),
    )


async def create_device(
    *, store: Store | None = None, channel: Channel = Channel.KIOSK, revoked: bool = False
) -> Device:
    import uuid
    from datetime import UTC, datetime

    store = store or await create_store()
    return await Device.create(
        name=f"Device {next(_sequence)}",
        store=store,
        channel=channel,
        credential_id=uuid.uuid4(),
        revoked_at=datetime.now(UTC) if revoked else None,
    )


def member_token(member: Member, settings: Settings) -> str:
    return issue_member_token(member, settings)


def device_token(device: Device, settings: Settings) -> str:
    return issue_device_token(device, settings)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def actor_of(subject: Member | Device) -> Actor:
    if isinstance(subject, Device):
        return Actor(
            kind=ActorKind.DEVICE,
            id=subject.id,
            store_id=subject.store_id,  # type: ignore[attr-defined]
            channel=subject.channel,
        )
    return Actor.for_role(subject.role, subject.id, subject.store_id)  # type: ignore[attr-defined]


# Built once per Settings object (Settings holds a list, so it cannot be a dict key itself).
_schemas: dict[int, tuple[Settings, strawberry.Schema]] = {}


def schema_for(settings: Settings) -> strawberry.Schema:
    if id(settings) not in _schemas:
        _schemas[id(settings)] = (settings, build_schema(settings))
    return _schemas[id(settings)][1]


async def execute(
    app: Starlette,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    as_: Member | Device | None = None,
) -> Any:
    """Run `query` through the schema as `as_` (anonymous when None); return the result."""
    settings: Settings = app.state.settings
    schema = schema_for(settings)
    context = Context(
        settings=settings, redis=app.state.redis, actor=actor_of(as_) if as_ else None
    )
    return await schema.execute(query, variable_values=variables, context_value=context)


# Points factories. Imported here rather than at the top so that this section only appends to
# a file that several people extend at once.
from datetime import UTC, datetime, timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402

from tortoise.transactions import in_transaction  # noqa: E402

from gamification.earning.models import EarnRule, Purchase  # noqa: E402
from gamification.earning.purchases import PurchaseInput, record_purchase  # noqa: E402
from gamification.earning.rules import set_earn_rule  # noqa: E402
from gamification.ledger import accounts, movements  # noqa: E402
from gamification.ledger.entries import Origin, Reference  # noqa: E402
from gamification.ledger.models import EntryKind, LedgerEntry  # noqa: E402


async def create_earn_rule(
    *,
    currency: str = "EUR",
    points_per_unit: str = "1",
    minimum_spend: str = "0",
    category_multipliers: dict[str, str] | None = None,
) -> EarnRule:
    return await set_earn_rule(
        currency=currency,
        points_per_unit=Decimal(points_per_unit),
        minimum_spend=Decimal(minimum_spend),
        category_multipliers={k: Decimal(v) for k, v in (category_multipliers or {}).items()},
    )


async def create_purchase(
    *,
    member: Member,
    recorded_by: Device | None = None,
    amount: str = "10.00",
    currency: str = "EUR",
    external_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Purchase:
    """A purchase recorded through the use case (points credited), by a new kiosk unless told."""
    device = recorded_by or await create_device(channel=Channel.KIOSK)
    n = next(_sequence)
    result = await record_purchase(
        actor=actor_of(device),
        data=PurchaseInput(
            member_id=member.id,
            card_number=None,
            amount=Decimal(amount),
            currency=currency,
            channel=device.channel,
            store_id=device.store_id,  # type: ignore[attr-defined]
            external_id=external_id or f"receipt-{n}",
            occurred_at=occurred_at or datetime.now(UTC),
        ),
        idempotency_key=f"factory-purchase-{n}",
    )
    return await Purchase.get(id=result.purchase_id)


async def credit_points(
    *, member: Member, points: int, expires_at: datetime | None = None
) -> LedgerEntry:
    """A bonus credited straight through the ledger, as one lot with the given expiry."""
    async with in_transaction() as conn:
        account = await accounts.lock_member_account(member.id, conn)
        entry = await movements.credit(
            account,
            points,
            kind=EntryKind.BONUS,
            origin=Origin.system(),
            reference=Reference("test", "", "test bonus"),
            expires_at=expires_at or datetime.now(UTC) + timedelta(days=90),
        )
        await accounts.save_account(account)
    return entry


# Kiosk and till factories (appended, like the points factories above).
from channels import tokens as redemption_tokens  # noqa: E402
from gamification.rewards import holds  # noqa: E402
from gamification.rewards.models import PointsHold  # noqa: E402


async def issue_redemption_token(
    *,
    member: Member,
    settings: Settings,
    reward_id: int | None = None,
    points: int | None = None,
    cause_id: int | None = None,
    now: datetime | None = None,
) -> str:
    """The token the member's app would show (for a reward, or else for an amount of points, to
    donate to `cause_id` if given); `now` in the past gives a token that has already expired."""
    issued = await redemption_tokens.create_redemption_token(
        actor=actor_of(member),
        reward_id=reward_id,
        points=points if reward_id is None else None,
        cause_id=cause_id,
        settings=settings,
        now=now,
    )
    return issued.token


async def hold_member_points(
    *,
    member: Member,
    device: Device,
    points: int,
    ttl_seconds: int = 300,
    reference: str | None = None,
    now: datetime | None = None,
) -> PointsHold:
    """A hold placed by `device` as of `now` (in the past for a hold that has expired)."""
    async with in_transaction() as conn:
        return await holds.place_hold_in(
            conn,
            actor_of(device),
            holds.HoldRequest(
                member_id=member.id,
                points=points,
                reference=reference or f"sale-{next(_sequence)}",
                ttl_seconds=ttl_seconds,
            ),
            now or datetime.now(UTC),
            consent_of(member.id),
        )


# Reward factories (appended, like the sections above).
from gamification.ledger.consent import MemberConsent, Proof  # noqa: E402
from gamification.rewards import catalog as rewards_service  # noqa: E402
from gamification.rewards import redemptions as redemptions_service  # noqa: E402
from gamification.rewards.models import Redemption, Reward, RewardKind  # noqa: E402


async def create_reward(
    *,
    name: str | None = None,
    cost_points: int = 100,
    kind: RewardKind = RewardKind.PRODUCT,
    **fields: Any,
) -> Reward:
    """A reward created through the catalog (so checked and normalised); `fields` are any other
    `RewardInput` fields (stock, channels, valid_from, active, ...)."""
    return await rewards_service.create_reward(
        rewards_service.RewardInput(
            name=name or f"Reward {next(_sequence)}", kind=kind, cost_points=cost_points, **fields
        )
    )


async def redeem_reward(
    *,
    member: Member,
    reward: Reward,
    channel: Channel = Channel.APP,
    device: Device | None = None,
) -> Redemption:
    """A redemption through the core: the member's own in the app (or `channel`), or at
    `device` (a kiosk or till, which gives it a store)."""
    request = redemptions_service.RedemptionRequest(
        consent=consent_of(member.id),
        channel=device.channel if device else channel,
        reward_id=reward.id,
        store_id=device.store_id if device else None,  # type: ignore[attr-defined]
        device_id=device.id if device else None,
    )
    redemption, _ = await redemptions_service.redeem(
        actor=actor_of(device or member),
        request=request,
        idempotency_key=f"factory-redeem-{next(_sequence)}",
    )
    return redemption


# Cause factories (appended, like the sections above).
from gamification.causes import catalog as causes_catalog  # noqa: E402
from gamification.causes import donations as causes_donations  # noqa: E402
from gamification.causes import matching as causes_matching  # noqa: E402
from gamification.causes.models import Cause, Donation, MatchingCampaign  # noqa: E402


async def create_cause(
    *,
    name: str | None = None,
    impact_unit: str = "tree",
    points_per_unit: int = 500,
    starts_at: datetime | None = None,
    **fields: Any,
) -> Cause:
    """A cause created through the admin use case, open since a minute ago unless told;
    `fields` are any other `CauseInput` fields (goal_points, min_donation, ends_at, ...)."""
    return await causes_catalog.create_cause(
        causes_catalog.CauseInput(
            name=name or f"Cause {next(_sequence)}",
            impact_unit=impact_unit,
            points_per_unit=points_per_unit,
            starts_at=starts_at or datetime.now(UTC) - timedelta(minutes=1),
            **fields,
        )
    )


async def create_matching_campaign(
    *,
    cause: Cause,
    ratio: str = "1",
    total_cap: int = 1_000_000,
    per_member_cap: int | None = None,
    ends_at: datetime | None = None,
) -> MatchingCampaign:
    """A campaign running from a minute ago for a day unless told."""
    now = datetime.now(UTC)
    return await causes_matching.create_matching_campaign(
        causes_matching.CampaignInput(
            cause_id=cause.id,
            ratio=Decimal(ratio),
            total_cap=total_cap,
            per_member_cap=per_member_cap,
            starts_at=now - timedelta(minutes=1),
            ends_at=ends_at or now + timedelta(days=1),
        )
    )


def consent_of(member_id: int) -> MemberConsent:
    """A member's consent, as the channels make it once the member's proof is checked (the
    proof itself is the channels' tests' business: tests/schema/test_caller_table.py)."""
    return MemberConsent(member_id, Proof.ACCESS_TOKEN)


async def donate(
    *,
    member: Member,
    cause: Cause,
    points: int,
    channel: Channel = Channel.APP,
    key: str | None = None,
) -> Donation:
    """The member's own donation through the core."""
    result = await causes_donations.donate_points(
        actor=actor_of(member),
        member_consent=consent_of(member.id),
        cause_id=cause.id,
        points=points,
        channel=channel,
        idempotency_key=key or f"factory-donation-{next(_sequence)}",
    )
    return result.donation


# Gamification factories (appended, like the sections above).
from gamification.badges import awards as badges_service  # noqa: E402
from gamification.badges.models import Badge, BadgeRule  # noqa: E402
from gamification.challenges import definitions as challenges_definitions  # noqa: E402
from gamification.challenges.models import Challenge, GoalType, WindowKind  # noqa: E402
from gamification.earning import eco_actions as eco_service  # noqa: E402
from gamification.earning.models import EcoActionKind  # noqa: E402
from gamification.events.models import EventKind  # noqa: E402
from gamification.tiers import ladder as tiers_service  # noqa: E402
from gamification.tiers.models import Tier  # noqa: E402


async def create_tier_ladder() -> list[Tier]:
    """Bronze (0, ×1), Silver (100, ×1.5), Gold (500, ×2)."""
    ladder = [("Bronze", 0, 0, "1"), ("Silver", 1, 100, "1.5"), ("Gold", 2, 500, "2")]
    return [
        await tiers_service.define_tier(
            tiers_service.TierInput(
                name=name, rank=rank, threshold=threshold, earn_multiplier=Decimal(multiplier)
            )
        )
        for name, rank, threshold, multiplier in ladder
    ]


async def create_challenge(
    *,
    title: str | None = None,
    goal_type: GoalType = GoalType.COUNT,
    target: str = "2",
    event_kind: EventKind = EventKind.CHECK_IN,
    window_kind: WindowKind = WindowKind.FIXED,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    **fields: Any,
) -> Challenge:
    """A challenge through the admin use case, fixed from 2026-01-01 to 2030 unless told;
    `fields` are any other `ChallengeInput` fields."""
    return await challenges_definitions.create_challenge(
        challenges_definitions.ChallengeInput(
            title=title or f"Challenge {next(_sequence)}",
            goal_type=goal_type,
            target=Decimal(target),
            event_kind=event_kind.value,
            window_kind=window_kind,
            starts_at=starts_at or datetime(2026, 1, 1, tzinfo=UTC),
            ends_at=ends_at
            if ends_at is not None or window_kind is not WindowKind.FIXED
            else datetime(2030, 1, 1, tzinfo=UTC),
            **fields,
        )
    )


async def create_badge(
    *, name: str | None = None, rule: BadgeRule = BadgeRule.CHALLENGE, **fields: Any
) -> Badge:
    return await badges_service.create_badge(
        badges_service.BadgeInput(name=name or f"Badge {next(_sequence)}", rule=rule, **fields)
    )


async def create_eco_kind(
    *, code: str = "recycling", points_per_unit: int = 5, max_quantity: int = 50
) -> EcoActionKind:
    return await eco_service.define_kind(
        code=code, name=code.title(), points_per_unit=points_per_unit, max_quantity=max_quantity
    )


async def check_in(*, member: Member, at: datetime) -> None:
    await eco_service.check_in(member_id=member.id, now=at)
