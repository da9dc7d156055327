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
    await seed_gamification()  # before the history, so that purchases move tiers and challenges
    await _seed_points_history(rng, by_code)
    await seed_rewards()
    await seed_causes()
    await seed_member_activity()
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


# Tiers, eco action kinds, badges and challenges (appended, with their own imports).
from gamification import badges as badges_catalog  # noqa: E402
from gamification import challenges as challenge_catalog  # noqa: E402
from gamification import eco_actions, tiers  # noqa: E402
from gamification.errors import LoyaltyError, Refused  # noqa: E402
from gamification.models import (  # noqa: E402
    Badge,
    BadgeRule,
    Challenge,
    EventKind,
    GoalType,
    WindowKind,
)

_TIERS = [
    tiers.TierInput("Seedling", 0, 0, Decimal("1"), "Welcome to the program.", ()),
    tiers.TierInput(
        "Sprout",
        1,
        300,
        Decimal("1.25"),
        "25% more points and a birthday gift.",
        ("birthday_gift",),
    ),
    tiers.TierInput(
        "Oak",
        2,
        1000,
        Decimal("1.5"),
        "50% more points, free shipping, a birthday gift and early access to sales.",
        ("free_shipping", "birthday_gift", "early_access"),
    ),
]
_ECO_KINDS = [
    ("recycling", "Bottle recycling", "bottle", 2, 200),
    ("refill", "Refill station", "refill", 10, 20),
    ("byo_bag", "Bring your own bag", "bag", 5, 5),
]
_BADGES = [
    badges_catalog.BadgeInput("First basket", BadgeRule.FIRST_PURCHASE, "Your first purchase."),
    badges_catalog.BadgeInput("Regular", BadgeRule.PURCHASE_COUNT, "Five purchases.", threshold=5),
    badges_catalog.BadgeInput("Kind heart", BadgeRule.FIRST_DONATION, "Your first donation."),
    badges_catalog.BadgeInput(
        "Mighty oak", BadgeRule.TIER_REACHED, "Reached Oak.", tier_name="Oak"
    ),
    badges_catalog.BadgeInput("Seven days", BadgeRule.STREAK_DAYS, "A 7-day streak.", threshold=7),
    badges_catalog.BadgeInput("Recycling hero", BadgeRule.CHALLENGE, "Recycled 20 bottles."),
]


def _challenges(now: datetime, hero_badge: int) -> list[challenge_catalog.ChallengeInput]:
    start = now - timedelta(days=150)
    end = now + timedelta(days=365)

    def challenge(
        title: str,
        goal: GoalType,
        target: int,
        kind: EventKind,
        window: WindowKind,
        reward: int,
        **extra: object,
    ) -> challenge_catalog.ChallengeInput:
        return challenge_catalog.ChallengeInput(
            title=title,
            goal_type=goal,
            target=Decimal(target),
            event_kind=kind.value,
            window_kind=window,
            starts_at=start,
            ends_at=end if window is WindowKind.FIXED else None,
            reward_points=reward,
            **extra,  # type: ignore[arg-type]
        )

    purchase, eco = EventKind.PURCHASE_RECORDED, EventKind.ECO_ACTION_RECORDED
    return [
        challenge(
            "Three visits this week",
            GoalType.COUNT,
            3,
            purchase,
            WindowKind.WEEKLY,
            50,
            description="Shop three times in one week (Monday to Sunday, your time).",
        ),
        challenge(
            "Big basket month",
            GoalType.SUM,
            200,
            purchase,
            WindowKind.MONTHLY,
            100,
            description="Spend 200 EUR this month.",
        ),
        challenge(
            "Organic explorer",
            GoalType.DISTINCT_DAYS,
            4,
            purchase,
            WindowKind.MONTHLY,
            80,
            filter_category="organic",
            description="Buy organic on four different days this month.",
        ),
        challenge(
            "Daily check-in streak",
            GoalType.STREAK_DAYS,
            7,
            EventKind.CHECK_IN,
            WindowKind.FIXED,
            70,
            freezes_per_week=1,
            description="Open the app seven days in a row (one missed day a week is forgiven).",
        ),
        challenge(
            "Recycle 20 bottles",
            GoalType.SUM,
            20,
            eco,
            WindowKind.WEEKLY,
            60,
            filter_eco_kind="recycling",
            opt_in=True,
            reward_badge_id=hero_badge,
            description="Bring 20 bottles to a recycling machine this week.",
        ),
        challenge(
            "Refill regular",
            GoalType.STREAK_WEEKS,
            4,
            eco,
            WindowKind.FIXED,
            120,
            filter_eco_kind="refill",
            opt_in=True,
            description="Use a refill station four weeks in a row.",
        ),
        challenge(
            "A kind surprise",
            GoalType.COUNT,
            1,
            EventKind.POINTS_DONATED,
            WindowKind.FIXED,
            25,
            hidden=True,
            description="Revealed to those who donated.",
        ),
    ]


async def seed_gamification() -> None:
    """The tier ladder, eco action kinds, badges and seven challenges (every goal type, one eco,
    two streaks, one hidden). Found by name or title, so reruns add nothing."""
    for tier in _TIERS:
        await tiers.define_tier(tier)
    for code, name, unit, points_per_unit, max_quantity in _ECO_KINDS:
        await eco_actions.define_kind(
            code=code,
            name=name,
            unit=unit,
            points_per_unit=points_per_unit,
            max_quantity=max_quantity,
        )
    for badge in _BADGES:
        if not await Badge.filter(name=badge.name).exists():
            await badges_catalog.create_badge(badge)
    hero = await Badge.get(name="Recycling hero")
    for definition in _challenges(datetime.now(UTC), hero.id):
        if not await Challenge.filter(title=definition.title).exists():
            await challenge_catalog.create_challenge(definition)


async def seed_member_activity() -> None:
    """The demo member joins the eco challenges, checks in on the last five days and recycles
    at a kiosk. Replays (and refusals) make reruns no-ops."""
    demo = await Member.get_or_none(email=DEMO_MEMBER_EMAIL)
    kiosk = (
        await Device.filter(channel=Channel.KIOSK, revoked_at__isnull=True).order_by("id").first()
    )
    if demo is None or kiosk is None:
        return
    now = datetime.now(UTC)
    for challenge in await Challenge.filter(opt_in=True, hidden=False):
        try:
            await challenge_catalog.join_challenge(
                actor=Actor(kind=ActorKind.MEMBER, id=demo.id), challenge_id=challenge.id
            )
        except LoyaltyError:
            continue  # joined on an earlier run
    for days_ago in range(5, 0, -1):
        try:
            await eco_actions.check_in(member_id=demo.id, now=now - timedelta(days=days_ago))
        except Refused:
            continue
    kiosk_actor = Actor(
        kind=ActorKind.DEVICE,
        id=kiosk.id,
        store_id=kiosk.store_id,  # type: ignore[attr-defined]
        channel=kiosk.channel,
    )
    for n, (kind, quantity) in enumerate([("recycling", 8), ("refill", 1), ("recycling", 6)]):
        await eco_actions.record_eco_action(
            actor=kiosk_actor,
            member_id=demo.id,
            kind_code=kind,
            quantity=quantity,
            external_id=f"seed-eco-{n}",
        )
