"""A member with something in every table the privacy registry names, and the scans that look
for their personal data afterwards."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from redis.asyncio import Redis
from tortoise import Tortoise, connections

from channels import redemption_requests
from gamification.actors import Actor, ActorKind
from gamification.badges.models import BadgeRule
from gamification.challenges.progress import join_challenge
from gamification.earning.eco_actions import record_eco_action
from gamification.ledger import points
from gamification.members import follows
from gamification.members.models import Member, Role
from gamification.notifications import preferences as notification_preferences
from gamification.notifications.models import Notification, NotificationKind
from gamification.privacy import consents
from gamification.privacy.models import ConsentChannel, ConsentKind
from gamification.stores.models import Channel
from server.settings import Settings
from tests.factories import (
    actor_of,
    check_in,
    create_badge,
    create_cause,
    create_challenge,
    create_device,
    create_earn_rule,
    create_eco_kind,
    create_member,
    create_purchase,
    create_reward,
    create_store,
    create_tier_ladder,
    credit_points,
    donate,
    hold_member_points,
    issue_redemption_token,
    redeem_reward,
)


@dataclass(frozen=True)
class Secrets:
    """What names the member: none of it may remain after erasure."""

    email: str
    name: str
    card_number: str
    birthday: str

    def found_in(self, text: str) -> list[str]:
        lowered = text.lower()
        return [
            label
            for label, value in (
                ("email", self.email),
                ("name", self.name),
                ("card number", self.card_number),
                ("birthday", self.birthday),
            )
            if value.lower() in lowered
        ]


async def busy_member(redis: Redis, settings: Settings, *, n: int) -> tuple[Member, Secrets]:
    """A member with purchases, a redemption, an open hold, a donation, follows both ways,
    consents, a challenge, a check-in, an eco action, codes, a pending kiosk request and an
    admin's correction whose reason names them."""
    store = await create_store()
    name = f"Zelda Quintessa {n}"
    member = await create_member(email=f"zelda.q{n}@example.org", display_name=name, store=None)
    await Member.filter(id=member.id).update(birthday=date(1940 + n % 60, 1 + n % 12, 1 + n % 28))
    member = await Member.get(id=member.id)
    other = await create_member()
    till = await create_device(store=store, channel=Channel.POS)
    kiosk = await create_device(store=store, channel=Channel.KIOSK)
    admin = await create_member(role=Role.ADMIN)
    await create_earn_rule()
    await create_tier_ladder()
    await create_badge(name=f"First {n}", rule=BadgeRule.FIRST_PURCHASE)
    await credit_points(member=member, points=1000)
    await create_purchase(member=member, recorded_by=till, amount="150.00")
    reward = await create_reward(cost_points=100, channels=(Channel.APP, Channel.KIOSK))
    await redeem_reward(member=member, reward=reward)
    cause = await create_cause(points_per_unit=10)
    await donate(member=member, cause=cause, points=50)
    await hold_member_points(
        member=member, device=till, points=30, reference=f"sale for {name} {member.card_number}"
    )
    await points.adjust_points(
        actor=Actor(kind=ActorKind.ADMIN, id=admin.id),
        member_id=member.id,
        points=25,
        reason=f"goodwill for {name} <{member.email}>",
        idempotency_key=f"adj-{n}",
    )
    await follows.follow(follower_id=member.id, followee_id=other.id)
    await follows.follow(follower_id=other.id, followee_id=member.id)
    await consents.set_consent(
        member_id=member.id,
        kind=ConsentKind.MARKETING,
        channel=ConsentChannel.EMAIL,
        given=True,
        text_version="2026-01",
        source=Channel.APP,
    )
    challenge = await create_challenge(opt_in=True, target="1")
    await join_challenge(actor=actor_of(member), challenge_id=challenge.id)
    await check_in(member=member, at=datetime.now(UTC))
    eco = await create_eco_kind(code=f"bottle{n}")
    await record_eco_action(
        actor=actor_of(till),
        kind_code=eco.code,
        quantity=2,
        external_id=f"eco-{n}",
        member_id=member.id,
    )
    await issue_redemption_token(member=member, settings=settings, points=40)
    await redemption_requests.request_redemption(
        redis=redis,
        actor=actor_of(kiosk),
        card_number=member.card_number,
        member_id=None,
        reward_id=None,
        points=20,
        reference=f"ask {name}",
        settings=settings,
    )
    await Notification.create(
        member_id=member.id,
        kind=NotificationKind.BIRTHDAY,
        occasion=f"birthday:{member.id}:2027",
        data={"year": 2027},
        created_at=datetime.now(UTC),
    )
    await notification_preferences.set_preferences(
        member.id, {NotificationKind.TIER_AT_RISK: False}
    )
    return member, Secrets(
        email=member.email,
        name=name,
        card_number=member.card_number,
        birthday=member.birthday.isoformat() if member.birthday else "",
    )


async def every_text_in_the_database() -> list[tuple[str, str, Any]]:
    """(table, column, value) for every text or JSON column of every row of every table."""
    found: list[tuple[str, str, Any]] = []
    conn = connections.get("default")
    for model in Tortoise.apps["models"].values():
        table = model._meta.db_table
        rows = await conn.execute_query_dict(f'SELECT * FROM "{table}"')
        for row in rows:
            for column, value in row.items():
                if isinstance(value, str | dict | list):
                    text = value if isinstance(value, str) else json.dumps(value)
                    found.append((table, column, text))
                elif value is not None and not isinstance(value, int | float | bool):
                    found.append((table, column, str(value)))
    return found


async def every_text_in_redis(redis: Redis) -> list[str]:
    """Every key, and every value of every key, as text."""
    texts: list[str] = []
    async for key in redis.scan_iter(count=1000):
        name = key.decode() if isinstance(key, bytes) else str(key)
        texts.append(name)
        kind = await redis.type(name)
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        if kind == "string":
            texts.append(str(await redis.get(name)))
        elif kind == "hash":
            texts.append(str(await redis.hgetall(name)))
        elif kind == "zset":
            texts.append(str(await redis.zrange(name, 0, -1, withscores=True)))
        elif kind == "set":
            texts.append(str(await redis.smembers(name)))
        elif kind == "list":
            texts.append(str(await redis.lrange(name, 0, -1)))
    return texts
