"""Demo data: a program someone can click through in GraphiQL. Running it twice changes nothing."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from gamification import earning, members, purchases, rewards, stores
from gamification.actors import Actor, ActorKind
from gamification.models import (
    Channel,
    Device,
    EarnPromotion,
    EarnRule,
    LimitPeriod,
    Member,
    Reward,
    RewardKind,
    Role,
    Store,
)

DEMO_PASSWORD = "demo-password-2026"
DEMO_MEMBER_EMAIL = "maya@example.com"
ADMIN_EMAIL = "admin@example.com"
STAFF_EMAIL = "staff@example.com"
MEMBER_COUNT = 50

_STORES = [
    ("CITY", "City Centre", "Europe/Paris"),
    ("HARBOUR", "Harbour Mall", "Europe/Paris"),
    ("ONLINE", "Web Shop", "UTC"),
]
_DEVICES = [
    ("CITY", Channel.KIOSK, "City Centre kiosk 1"),
    ("CITY", Channel.POS, "City Centre till 1"),
    ("HARBOUR", Channel.KIOSK, "Harbour kiosk 1"),
    ("HARBOUR", Channel.POS, "Harbour till 1"),
    ("ONLINE", Channel.WEB, "Web shop checkout server"),
]
_FIRST = ["Maya", "Leo", "Ines", "Noah", "Zoe", "Omar", "Lina", "Hugo", "Ava", "Sami"]
_LAST = ["Green", "Rivers", "Stone", "Field", "Woods"]
_ZONES = ["Europe/Paris", "Europe/London", "America/New_York", "Asia/Tokyo", "Pacific/Kiritimati"]
# A reward on every channel, one with a small stock, some with per-member limits.
_REWARDS = [
    rewards.RewardInput(
        name="Free coffee",
        kind=RewardKind.VOUCHER,
        cost_points=150,
        category="food",
        description="Any hot drink, once a day, wherever you are.",
        per_member_limit=1,
        limit_period=LimitPeriod.DAY,
    ),
    rewards.RewardInput(
        name="App exclusive: 5 EUR off",
        kind=RewardKind.DISCOUNT,
        cost_points=400,
        category="discount",
        channels=(Channel.APP,),
        voucher_valid_days=14,
    ),
    rewards.RewardInput(
        name="Free delivery on your next web order",
        kind=RewardKind.DISCOUNT,
        cost_points=250,
        category="delivery",
        channels=(Channel.WEB,),
    ),
    rewards.RewardInput(
        name="Reusable tote bag",
        kind=RewardKind.PRODUCT,
        cost_points=300,
        category="eco",
        channels=(Channel.KIOSK,),
        stock=200,
    ),
    rewards.RewardInput(
        name="Refill station credit",
        kind=RewardKind.VOUCHER,
        cost_points=100,
        category="eco",
        channels=(Channel.POS,),
        per_member_limit=4,
        limit_period=LimitPeriod.MONTH,
    ),
    rewards.RewardInput(
        name="Bamboo cutlery set (limited edition)",
        kind=RewardKind.PRODUCT,
        cost_points=600,
        category="eco",
        stock=5,
    ),
    rewards.RewardInput(
        name="A tree planted in your name",
        kind=RewardKind.EXPERIENCE,
        cost_points=500,
        category="eco",
        channels=(Channel.APP, Channel.WEB),
        per_member_limit=1,
        limit_period=LimitPeriod.EVER,
    ),
]


@dataclass
class SeedReport:
    stores: int
    devices: int
    members: int


async def _member(email: str, name: str, *, role: Role = Role.MEMBER, **extra: object) -> Member:
    existing = await Member.get_or_none(email=email)
    if existing is not None:
        return existing
    return await members.sign_up(
        email=email,
        password=DEMO_PASSWORD,
        display_name=name,
        role=role,
        **extra,  # type: ignore[arg-type]
    )


async def _seed_points_history(rng: random.Random, by_code: dict[str, Store]) -> None:
    """Earn rules, a web promotion, and a few months of purchases for every member. Purchases
    are recorded through the ledger like any till would, so their ids make reruns no-ops."""
    if not await EarnRule.filter(currency="EUR").exists():
        await earning.set_earn_rule(
            currency="EUR",
            points_per_unit=Decimal("1"),
            minimum_spend=Decimal("1"),
            category_multipliers={"organic": Decimal("2"), "refill": Decimal("3")},
        )
    now = datetime.now(UTC)
    if not await EarnPromotion.filter(name="Double points online").exists():
        await earning.create_promotion(
            name="Double points online",
            channel=Channel.WEB,
            multiplier=Decimal("2"),
            starts_at=now - timedelta(days=7),
            ends_at=now + timedelta(days=60),
        )
    tills = [
        d
        for d in await Device.filter(channel__in=[Channel.POS, Channel.WEB]).order_by("id")
        if d.revoked_at is None
    ]
    buyers = await Member.filter(role=Role.MEMBER).order_by("id")
    for member in buyers:
        for n in range(rng.randint(3, 8)):
            till = rng.choice(tills)
            till_store: int = till.store_id  # type: ignore[attr-defined]
            amount = Decimal(rng.randint(500, 12000)) / 100
            organic = (amount * Decimal(rng.choice([0, 0, 25, 50])) / 100).quantize(Decimal("0.01"))
            await purchases.record_purchase(
                actor=Actor(
                    kind=ActorKind.DEVICE, id=till.id, store_id=till_store, channel=till.channel
                ),
                data=purchases.PurchaseInput(
                    member_id=member.id,
                    card_number=None,
                    amount=amount,
                    currency="EUR",
                    channel=till.channel,
                    store_id=till_store,
                    external_id=f"demo-{member.id}-{n}",
                    occurred_at=now - timedelta(days=rng.randint(0, 120)),
                    line_items=(earning.LineItem("organic", organic),) if organic else (),
                ),
                idempotency_key=f"seed-{member.id}-{n}",
            )


async def seed_rewards() -> None:
    """The demo catalog; rewards are found by name, so reruns add nothing."""
    for reward in _REWARDS:
        if not await Reward.filter(name=reward.name).exists():
            await rewards.create_reward(reward)


async def seed_demo_program() -> SeedReport:
    rng = random.Random(2026)  # the same demo every time
    by_code: dict[str, Store] = {}
    for code, name, tz in _STORES:
        store = await Store.get_or_none(code=code)
        by_code[code] = store or await stores.create_store(code=code, name=name, timezone=tz)
    for code, channel, name in _DEVICES:
        if not await Device.filter(name=name).exists():
            await stores.register_device(store_id=by_code[code].id, channel=channel, name=name)
    await _member(ADMIN_EMAIL, "Program Admin", role=Role.ADMIN)
    await _member(STAFF_EMAIL, "City Cashier", role=Role.STAFF, store_id=by_code["CITY"].id)
    await _member(DEMO_MEMBER_EMAIL, "Maya Green", timezone="Europe/Paris", marketing_consent=True)
    for i in range(1, MEMBER_COUNT):
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        await _member(
            f"member{i:02d}@example.com",
            name,
            timezone=rng.choice(_ZONES),
            marketing_consent=rng.random() < 0.5,
        )
    await _seed_points_history(rng, by_code)
    await seed_rewards()
    await seed_causes()
    return SeedReport(
        stores=await Store.all().count(),
        devices=await Device.all().count(),
        members=await Member.filter(role=Role.MEMBER).count(),
    )


# Eco causes (appended, with their own imports, so that this section only adds to the file).
from gamification import causes  # noqa: E402
from gamification.ledger import InsufficientPoints  # noqa: E402
from gamification.models import Cause, MatchingCampaign  # noqa: E402

TREES = "Plant native trees"
OCEAN = "Clear plastic from the ocean"
CO2 = "Cut CO₂ with community solar"
_CAUSES = [
    causes.CauseInput(
        name=TREES,
        description="Native saplings planted and cared for three years by local growers.",
        partner="Forest Friends",
        impact_unit="tree",
        points_per_unit=500,
        goal_units=2_000,
        min_donation=100,  # a fifth of a tree: the demo members' balances are small
        donation_step=100,
    ),
    causes.CauseInput(
        name=OCEAN,
        description="Plastic collected from beaches and coastal waters, then recycled.",
        partner="Blue Tide Cleanups",
        impact_unit="kg of ocean plastic",
        points_per_unit=100,
        goal_units=5_000,
        min_donation=100,
        donation_step=100,
    ),
    causes.CauseInput(
        name=CO2,
        description="Solar panels on schools and clinics, replacing diesel generators.",
        partner="Sunshare Cooperative",
        impact_unit="kg CO₂",
        points_per_unit=50,
        min_donation=50,
        donation_step=50,
    ),
]
# (donor: the demo member, then members by id; cause; points). Fixed, so reruns replay them.
_DEMO_DONATIONS = [
    (0, TREES, 200),
    (0, OCEAN, 100),
    (1, TREES, 500),
    (2, CO2, 150),
    (3, OCEAN, 100),
    (3, TREES, 200),
    (4, CO2, 100),
]


async def seed_causes() -> None:
    """Three eco causes, a matching campaign on the trees (1:1, 50,000 points in all, 2,000 per
    member) and a few demo donations. Causes are found by name, the campaign by its cause, and
    donations replay by their idempotency keys, so reruns add nothing."""
    by_name: dict[str, Cause] = {}
    for data in _CAUSES:
        existing = await Cause.filter(name=data.name).order_by("id").first()
        by_name[data.name] = existing or await causes.create_cause(data)
    trees = by_name[TREES]
    if not await MatchingCampaign.filter(cause_id=trees.id).exists():
        await causes.create_matching_campaign(
            causes.CampaignInput(
                cause_id=trees.id,
                ratio=Decimal(1),
                total_cap=50_000,
                per_member_cap=2_000,
                ends_at=datetime.now(UTC) + timedelta(days=90),
            )
        )
    demo = await Member.get_or_none(email=DEMO_MEMBER_EMAIL)
    others = await Member.filter(role=Role.MEMBER).exclude(email=DEMO_MEMBER_EMAIL).order_by("id")
    donors = ([demo] if demo else []) + list(others)
    for n, (donor, name, points) in enumerate(_DEMO_DONATIONS):
        if donor >= len(donors):
            continue
        member = donors[donor]
        try:
            await causes.donate_points(
                actor=Actor(kind=ActorKind.MEMBER, id=member.id),
                member_id=member.id,
                cause_id=by_name[name].id,
                points=points,
                channel=Channel.APP,
                idempotency_key=f"seed-donation-{n}",
            )
        except InsufficientPoints:
            # A demo member short of points does not donate; a rerun is refused the same way.
            continue
