"""Demo data: a program someone can click through in GraphiQL. Running it twice changes nothing.

Long because it is one demo story told in order (stores, ladder, rewards, causes, challenges,
badges, members and their activity), each step reading what the ones before it made.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from gamification.actors import Actor, ActorKind
from gamification.badges import awards as badges_catalog
from gamification.badges.models import Badge, BadgeRule
from gamification.causes import catalog as causes_catalog
from gamification.causes import donations as causes_donations
from gamification.causes import matching as causes_matching
from gamification.causes.models import Cause, MatchingCampaign
from gamification.challenges import definitions as challenges_definitions
from gamification.challenges import progress as challenges_progress
from gamification.challenges.models import Challenge, GoalType, WindowKind
from gamification.earning import eco_actions, purchases
from gamification.earning import rules as earning
from gamification.earning.models import EarnPromotion, EarnRule
from gamification.errors import LoyaltyError, Refused
from gamification.events.models import DomainEvent, EventKind
from gamification.ledger import consent
from gamification.ledger.movements import InsufficientPoints
from gamification.members import profiles as members
from gamification.members.models import Member, Role
from gamification.rewards import catalog as rewards
from gamification.rewards.models import LimitPeriod, Reward, RewardKind
from gamification.stores import registry as stores
from gamification.stores.models import Channel, Device, Store
from gamification.tiers import ladder as tiers

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
        description="A voucher for one refill, in the app or at the till.",
        channels=(Channel.APP, Channel.POS),
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


# The demo member's own story: a visit to a till in each of the eight weeks before this one
# (weeks ago, day of that week, hour UTC, amount EUR, organic EUR, store), then this week's
# acts so far. Enough points to redeem and donate at once, Sprout reached on the way, two
# visits towards "Three visits this week", 14 of 20 bottles, a refill streak one week short.


@dataclass(frozen=True, slots=True)
class _Visit:
    amount: str
    organic: str
    store: str


@dataclass(frozen=True, slots=True)
class _EcoAct:
    kind: str
    quantity: int


_DEMO_WEEKS_BEFORE: list[tuple[int, int, int, _Visit]] = [
    (8, 1, 10, _Visit("42.50", "10.00", "CITY")),
    (7, 3, 17, _Visit("68.00", "0", "CITY")),
    (6, 5, 11, _Visit("35.20", "15.00", "HARBOUR")),
    (5, 2, 18, _Visit("91.40", "0", "ONLINE")),
    (4, 4, 9, _Visit("54.00", "20.00", "CITY")),
    (3, 1, 16, _Visit("77.80", "20.00", "HARBOUR")),
    (2, 5, 12, _Visit("48.60", "0", "CITY")),
    (1, 2, 17, _Visit("63.30", "12.00", "CITY")),
]
_DEMO_REFILL_WEEKS_BEFORE = (2, 1)  # a refill at the kiosk in each; one more this week
_DEMO_THIS_WEEK: list[_Visit | _EcoAct] = [
    _Visit("36.90", "0", "CITY"),
    _EcoAct("recycling", 8),
    _EcoAct("refill", 1),
    _Visit("58.20", "12.00", "HARBOUR"),
    _EcoAct("recycling", 6),
]
_DEMO_CHECK_IN_DAYS = range(5, 0, -1)  # the app opened on each of the last five days
HISTORY_WEEKS = 8  # other members' purchases spread over this many weeks up to now


def week_start(now: datetime) -> datetime:
    """Monday 00:00 UTC of `now`'s ISO week: the WEEK leaderboard's period."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def _this_week_times(now: datetime, count: int, zone: ZoneInfo) -> list[datetime]:
    """`count` moments spread over what has passed of this week: inside the WEEK board's
    period (from Monday 00:00 UTC) and inside the member's own week (from their Monday)."""
    local = now.astimezone(zone)
    local_day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    local_monday = (local_day - timedelta(days=local_day.weekday())).astimezone(UTC)
    start = max(week_start(now), local_monday)
    span = now - start
    return [start + span * (n + 1) / (count + 2) for n in range(count)]


@dataclass(frozen=True, slots=True)
class _Step:
    """One dated act of the demo history, replayed in time order through the domain."""

    at: datetime
    member_id: int
    key: str
    run: Callable[[datetime], Awaitable[object]]


def _till_actor(till: Device) -> Actor:
    return Actor(
        kind=ActorKind.DEVICE,
        id=till.id,
        store_id=till.store_id,  # type: ignore[attr-defined]
        channel=till.channel,
    )


def _purchase_step(
    member: Member, till: Device, n: int, at: datetime, amount: Decimal, organic: Decimal
) -> _Step:
    store_id: int = till.store_id  # type: ignore[attr-defined]

    async def run(now: datetime) -> object:
        return await purchases.record_purchase(
            actor=_till_actor(till),
            data=purchases.PurchaseInput(
                member_id=member.id,
                card_number=None,
                amount=amount,
                currency="EUR",
                channel=till.channel,
                store_id=store_id,
                external_id=f"demo-{member.id}-{n}",
                occurred_at=now,
                line_items=(earning.LineItem("organic", organic),) if organic else (),
            ),
            idempotency_key=f"seed-{member.id}-{n}",
            now=now,
        )

    return _Step(at, member.id, f"purchase-{member.id}-{n}", run)


async def _seed_history(rng: random.Random, now: datetime) -> None:
    """Earn rules, a web promotion, and weeks of purchases for every member, stamped when they
    happened. Purchases are recorded through the ledger like any till would (with `now` set to
    their time), so their ids make reruns no-ops."""
    if not await EarnRule.filter(currency="EUR").exists():
        await earning.set_earn_rule(
            currency="EUR",
            points_per_unit=Decimal("1"),
            minimum_spend=Decimal("1"),
            category_multipliers={"organic": Decimal("2"), "refill": Decimal("3")},
        )
    if not await EarnPromotion.filter(name="Double points online").exists():
        await earning.create_promotion(
            name="Double points online",
            channel=Channel.WEB,
            multiplier=Decimal("2"),
            starts_at=now - timedelta(days=7),
            ends_at=now + timedelta(days=60),
        )
    history = timedelta(weeks=HISTORY_WEEKS + 1)
    tills = [
        d
        for d in await Device.filter(channel__in=[Channel.POS, Channel.WEB]).order_by("id")
        if d.revoked_at is None
    ]
    till_of = {t.store_id: t for t in tills}  # type: ignore[attr-defined]
    stores_by_code = {s.code: s.id for s in await Store.all()}
    steps: list[_Step] = []
    demo = await Member.get_or_none(email=DEMO_MEMBER_EMAIL)
    if demo is not None:
        kiosk = (
            await Device.filter(channel=Channel.KIOSK, revoked_at__isnull=True)
            .order_by("id")
            .first()
        )
        checked_in = await DomainEvent.filter(member_id=demo.id, kind=EventKind.CHECK_IN).exists()
        await _join_eco_challenges(demo, now - history)
        steps += _demo_member_steps(demo, now, till_of, stores_by_code, kiosk, checked_in)
    others = await Member.filter(role=Role.MEMBER).exclude(email=DEMO_MEMBER_EMAIL).order_by("id")
    for member in others:
        for n in range(rng.randint(3, 8)):
            till = rng.choice(tills)
            amount = Decimal(rng.randint(500, 12000)) / 100
            organic = (amount * Decimal(rng.choice([0, 0, 25, 50])) / 100).quantize(Decimal("0.01"))
            # At least a minute ago: a purchase is never stamped in the future.
            at = now - timedelta(minutes=1) - timedelta(weeks=HISTORY_WEEKS) * rng.random()
            steps.append(_purchase_step(member, till, n, at, amount, organic))
    # In time order, so that every member's ledger and challenge windows read as they happened.
    for step in sorted(steps, key=lambda s: (s.at, s.member_id, s.key)):
        await step.run(step.at)


def _demo_member_steps(
    demo: Member,
    now: datetime,
    till_of: dict[int, Device],
    stores_by_code: dict[str, int],
    kiosk: Device | None,
    checked_in_before: bool,
) -> list[_Step]:
    """The demo member's purchases, eco actions and check-ins, each at its time."""
    this_week = week_start(now)
    steps = []
    purchases_made = 0

    def visit(at: datetime, v: _Visit) -> None:
        nonlocal purchases_made
        till = till_of[stores_by_code[v.store]]
        amount, organic = Decimal(v.amount), Decimal(v.organic)
        steps.append(_purchase_step(demo, till, purchases_made, at, amount, organic))
        purchases_made += 1

    def eco(at: datetime, act: _EcoAct, n: int) -> None:
        if kiosk is not None:
            steps.append(_eco_step(demo, kiosk, n, at, act))

    for weeks_ago, day, hour, v in _DEMO_WEEKS_BEFORE:
        visit(this_week - timedelta(weeks=weeks_ago) + timedelta(days=day, hours=hour), v)
    refill = _EcoAct("refill", 1)
    for n, weeks_ago in enumerate(_DEMO_REFILL_WEEKS_BEFORE):
        eco(this_week - timedelta(weeks=weeks_ago) + timedelta(days=3, hours=15), refill, n)
    times = _this_week_times(now, len(_DEMO_THIS_WEEK), ZoneInfo(demo.timezone))
    for n, (act, at) in enumerate(zip(_DEMO_THIS_WEEK, times, strict=True)):
        if isinstance(act, _Visit):
            visit(at, act)
        else:
            eco(at, act, len(_DEMO_REFILL_WEEKS_BEFORE) + n)
    if not checked_in_before:  # once per local day: a rerun on another day would add days
        for days_ago in _DEMO_CHECK_IN_DAYS:
            steps.append(_check_in_step(demo, now - timedelta(days=days_ago)))
    return steps


def _eco_step(member: Member, kiosk: Device, n: int, at: datetime, act: _EcoAct) -> _Step:
    async def run(now: datetime) -> object:
        return await eco_actions.record_eco_action(
            actor=_till_actor(kiosk),
            member_id=member.id,
            kind_code=act.kind,
            quantity=act.quantity,
            external_id=f"seed-eco-{n}",
            now=now,
        )

    return _Step(at, member.id, f"eco-{n}", run)


def _check_in_step(member: Member, at: datetime) -> _Step:
    async def run(now: datetime) -> object:
        try:
            return await eco_actions.check_in(member_id=member.id, now=now)
        except Refused:
            return None  # that day is checked in already

    return _Step(at, member.id, f"check-in-{at.date()}", run)


async def seed_rewards() -> None:
    """The demo catalog; rewards are found by name, so reruns add nothing."""
    for reward in _REWARDS:
        if not await Reward.filter(name=reward.name).exists():
            await rewards.create_reward(reward)


async def seed_demo_program(*, now: datetime | None = None) -> SeedReport:
    """Stores, devices, members, the catalogs, and weeks of history up to `now` (default: the
    clock). Reruns change nothing."""
    now = now or datetime.now(UTC)
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
    await seed_gamification(now=now)  # before the history: purchases move tiers and challenges
    await _seed_history(rng, now)
    await seed_rewards()
    await seed_causes()  # its donations are today's, after the history
    return SeedReport(
        stores=await Store.all().count(),
        devices=await Device.all().count(),
        members=await Member.filter(role=Role.MEMBER).count(),
    )


TREES = "Plant native trees"
OCEAN = "Clear plastic from the ocean"
CO2 = "Cut CO₂ with community solar"
_CAUSES = [
    causes_catalog.CauseInput(
        name=TREES,
        description="Native saplings planted and cared for three years by local growers.",
        partner="Forest Friends",
        impact_unit="tree",
        points_per_unit=500,
        goal_units=2_000,
        min_donation=100,  # a fifth of a tree: the demo members' balances are small
        donation_step=100,
    ),
    causes_catalog.CauseInput(
        name=OCEAN,
        description="Plastic collected from beaches and coastal waters, then recycled.",
        partner="Blue Tide Cleanups",
        impact_unit="kg of ocean plastic",
        points_per_unit=100,
        goal_units=5_000,
        min_donation=100,
        donation_step=100,
    ),
    causes_catalog.CauseInput(
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
        by_name[data.name] = existing or await causes_catalog.create_cause(data)
    trees = by_name[TREES]
    if not await MatchingCampaign.filter(cause_id=trees.id).exists():
        await causes_matching.create_matching_campaign(
            causes_matching.CampaignInput(
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
        donor_actor = Actor(kind=ActorKind.MEMBER, id=member.id)
        try:
            await causes_donations.donate_points(
                actor=donor_actor,
                member_consent=consent.by_access_token(donor_actor),
                cause_id=by_name[name].id,
                points=points,
                channel=Channel.APP,
                idempotency_key=f"seed-donation-{n}",
            )
        except InsufficientPoints:
            # A demo member short of points does not donate; a rerun is refused the same way.
            continue


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


def _challenges(now: datetime, hero_badge: int) -> list[challenges_definitions.ChallengeInput]:
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
    ) -> challenges_definitions.ChallengeInput:
        return challenges_definitions.ChallengeInput(
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


async def seed_gamification(*, now: datetime | None = None) -> None:
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
    for definition in _challenges(now or datetime.now(UTC), hero.id):
        if not await Challenge.filter(title=definition.title).exists():
            await challenges_definitions.create_challenge(definition)


async def _join_eco_challenges(demo: Member, at: datetime) -> None:
    """The demo member joins the opt-in challenges before the history starts, so that their
    eco actions count. Joining again is refused: reruns are no-ops."""
    for challenge in await Challenge.filter(opt_in=True, hidden=False).order_by("id"):
        try:
            await challenges_progress.join_challenge(
                actor=Actor(kind=ActorKind.MEMBER, id=demo.id), challenge_id=challenge.id, now=at
            )
        except LoyaltyError:
            continue  # joined on an earlier run
