"""Demo data: a program someone can click through in GraphiQL. Running it twice changes nothing."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from gamification import earning, members, purchases, stores
from gamification.actors import Actor, ActorKind
from gamification.models import Channel, Device, EarnPromotion, EarnRule, Member, Role, Store

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
            amount = Decimal(rng.randint(500, 12000)) / 100
            organic = (amount * Decimal(rng.choice([0, 0, 25, 50])) / 100).quantize(Decimal("0.01"))
            await purchases.record_purchase(
                actor=Actor(
                    kind=ActorKind.DEVICE, id=till.id, store_id=till.store_id, channel=till.channel
                ),
                data=purchases.PurchaseInput(
                    member_id=member.id,
                    card_number=None,
                    amount=amount,
                    currency="EUR",
                    channel=till.channel,
                    store_id=till.store_id,
                    external_id=f"demo-{member.id}-{n}",
                    occurred_at=now - timedelta(days=rng.randint(0, 120)),
                    line_items=(earning.LineItem("organic", organic),) if organic else (),
                ),
                idempotency_key=f"seed-{member.id}-{n}",
            )


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
    return SeedReport(
        stores=await Store.all().count(),
        devices=await Device.all().count(),
        members=await Member.filter(role=Role.MEMBER).count(),
    )
