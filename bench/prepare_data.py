"""Data the benchmark rows need beyond `loyalty seed`, made with the application's own code.

Run by the harness before the server starts, in a child process with the server's environment
(`python -m bench.prepare_data TASK`), so the harness itself never imports the application. Each
task is idempotent on a reused database and prints one JSON object on its last line of stdout:
the facts the row's requests need (member IDs, a cursor), which the load generator receives.

    purchase   an EUR earn rule (if the seed made none), device 2 checked to be an active till,
               the global IDs of the seeded members
    spend      the same members, each topped up by an admin adjustment while it has fewer than
               --min-available points available
    ledger     a dedicated member whose account holds --entries ledger entries, bulk-loaded in SQL
               (their hashes do not verify: a timing fixture, not a ledger), and cursors for its
               first page and for a page near its oldest entries
    redeem     a cheap reward with unlimited stock offered on every channel, device 1 checked to
               be an active kiosk, the seeded members topped up as for `spend`, and an access
               token for each, valid --token-ttl seconds (members redeem their own points)
    donate     an open cause without goal or matching campaign, taking donations of DONATION
               points, the seeded members topped up and their tokens as for `redeem`
    members    --members members in all (bulk-loaded in SQL, named search-bench-N@example.com with
               card numbers 9NNN..., once per database) and, picked at random, SEARCH_SAMPLES of
               their e-mail addresses and card numbers (what the member-search rows look up)
    home       a dedicated member with progress in 10 challenges, 10 badges, points expiring
               within 30 days and a place on the points board (the app's home screen)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from channels.credentials import issue_member_token
from gamification import program_settings, view_versions
from gamification.actors import Actor, ActorKind
from gamification.badges import awards as badges
from gamification.badges.models import Badge, BadgeRule
from gamification.causes import catalog as causes_catalog
from gamification.causes import donations as causes_donations
from gamification.causes.models import Cause, CauseStatus
from gamification.challenges import definitions as challenges_definitions
from gamification.challenges import progress as challenges_progress
from gamification.challenges.models import Challenge, ChallengeStatus, GoalType, WindowKind
from gamification.earning import eco_actions, purchases
from gamification.earning import rules as earning
from gamification.earning.models import EarnRule
from gamification.errors import LoyaltyError, Refused
from gamification.events.models import EventKind
from gamification.leaderboards import reconcile
from gamification.ledger import accounts, movements, points
from gamification.ledger.entries import Origin, Reference
from gamification.ledger.models import EntryKind, LedgerAccount, LedgerEntry, PointsLot
from gamification.members import profiles as members
from gamification.members.models import Member, Role
from gamification.rewards import catalog as rewards
from gamification.rewards.models import Reward, RewardKind
from gamification.stores.models import Channel, Device
from schema.relay import encode_cursor, to_global_id
from server.database import close_database, init_database
from server.redis import MEMORY_SCHEME, create_redis
from server.settings import get_settings

# The till the recordPurchase row acts as (`loyalty token --device 2`): the seed registers its
# devices in a fixed order, and the second is the City Centre till.
POS_DEVICE_ID: Final = 2
POS_STORE_CODE: Final = "CITY"
# What `loyalty seed` creates (server/seed.py; not imported, so that this module stays a client
# of the domain API only): an admin, Maya and member01..member49, all @example.com.
ADMIN_EMAIL: Final = "admin@example.com"
DEMO_MEMBER_EMAIL: Final = "maya@example.com"
SEEDED_MEMBERS: Final = 50
LEDGER_MEMBER_EMAIL: Final = "ledger-bench@example.com"
LEDGER_MEMBER_PASSWORD: Final = "quiet-river-stones-2026"
# The deep page starts after this entry (newest first), so it holds entries 40..21 of 1,000,000.
DEEP_CURSOR_SEQ: Final = 41
# The kiosk that scans the members' codes in the kiosk pair (`loyalty token --device 1`).
KIOSK_DEVICE_ID: Final = 1
# What the members redeem: cheap, so that a topped-up balance lasts for many runs.
BENCH_REWARD: Final = rewards.RewardInput(
    name="Benchmark voucher",
    kind=RewardKind.VOUCHER,
    cost_points=10,
    category="benchmark",
    description="Redeemed by the benchmark: unlimited stock, every channel, no limit.",
)
# What the members donate to, and how much each time (its minimum, a valid step).
BENCH_CAUSE: Final = causes_catalog.CauseInput(
    name="Benchmark cause",
    impact_unit="benchmark unit",
    points_per_unit=10,
    description="Donated to by the benchmark: open-ended, no goal, no matching campaign.",
    min_donation=10,
    donation_step=10,
)
DONATION: Final = 10
HOME_MEMBER_EMAIL: Final = "home-bench@example.com"
HOME_MEMBER_PASSWORD: Final = "bright-meadow-paths-2026"
HOME_CHALLENGES: Final = 10
HOME_BADGES: Final = 10
HOME_EXPIRING_POINTS: Final = 40
SEARCH_SAMPLES: Final = 1000


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _seeded_members() -> list[Member]:
    seeded = Q(email=DEMO_MEMBER_EMAIL) | Q(
        email__startswith="member", email__endswith="@example.com"
    )
    found = await Member.filter(seeded, role=Role.MEMBER).order_by("id")
    if len(found) < SEEDED_MEMBERS // 2:
        raise SystemExit(f"only {len(found)} seeded members found: did `loyalty seed` run?")
    return list(found)


async def _ensure_earn_rule() -> None:
    if not await EarnRule.filter(currency="EUR").exists():
        _progress("creating an EUR earn rule (1 point per euro)")
        await earning.set_earn_rule(
            currency="EUR",
            points_per_unit=Decimal(1),
            minimum_spend=Decimal(0),
            category_multipliers={},
        )


async def _check_pos_device() -> None:
    device = await Device.get_or_none(id=POS_DEVICE_ID).prefetch_related("store")
    if (
        device is None
        or device.revoked_at is not None
        or device.channel is not Channel.POS
        or device.store.code != POS_STORE_CODE
    ):
        raise SystemExit(
            f"device {POS_DEVICE_ID} is not an active POS till of store {POS_STORE_CODE}: "
            "benchmark a database seeded by `loyalty seed` from empty"
        )


async def prepare_purchase(args: argparse.Namespace) -> dict[str, Any]:
    await _ensure_earn_rule()
    await _check_pos_device()
    return {"members": [to_global_id("Member", m.id) for m in await _seeded_members()]}


async def _topped_up_members(min_available: int) -> list[Member]:
    """The seeded members, each credited by an admin adjustment while it has fewer than
    `min_available` points available."""
    admin = await Member.get_or_none(email=ADMIN_EMAIL, role=Role.ADMIN)
    if admin is None:
        raise SystemExit(f"no admin {ADMIN_EMAIL}: did `loyalty seed` run?")
    actor = Actor(kind=ActorKind.ADMIN, id=admin.id)
    found = await _seeded_members()
    topped = 0
    for member in found:
        summary = await points.summary(member.id)
        if summary.available >= min_available:
            continue
        await points.adjust_points(
            actor=actor,
            member_id=member.id,
            points=points.MAX_ADJUSTMENT,
            reason="benchmark top-up",
            idempotency_key=f"bench-topup-{uuid.uuid4().hex}",
        )
        topped += 1
    _progress(f"topped up {topped} of {len(found)} members by {points.MAX_ADJUSTMENT} points")
    return found


async def prepare_spend(args: argparse.Namespace) -> dict[str, Any]:
    found = await _topped_up_members(args.min_available)
    return {"members": [to_global_id("Member", m.id) for m in found]}


def _member_tokens(found: list[Member], ttl_seconds: int) -> list[str]:
    """An access token per member, signed with the server's secret (this process has its
    environment), valid long enough for any run however long the other rows take."""
    settings = get_settings().model_copy(update={"access_token_ttl_seconds": ttl_seconds})
    return [issue_member_token(member, settings) for member in found]


async def _check_kiosk_device() -> None:
    device = await Device.get_or_none(id=KIOSK_DEVICE_ID)
    if device is None or device.revoked_at is not None or device.channel is not Channel.KIOSK:
        raise SystemExit(
            f"device {KIOSK_DEVICE_ID} is not an active kiosk: benchmark a database seeded by "
            "`loyalty seed` from empty"
        )


async def _bench_reward() -> Reward:
    reward = await Reward.filter(name=BENCH_REWARD.name).order_by("id").first()
    if reward is None:
        _progress(f"creating the reward {BENCH_REWARD.name!r}")
        return await rewards.create_reward(BENCH_REWARD)
    if (
        not reward.active
        or reward.stock is not None
        or reward.per_member_limit is not None
        or reward.channels
        or reward.valid_to is not None
        or reward.min_tier is not None
    ):
        raise SystemExit(
            f"the reward {BENCH_REWARD.name!r} was changed: it must stay active, unlimited and "
            "offered on every channel to everyone"
        )
    return reward


async def prepare_redeem(args: argparse.Namespace) -> dict[str, Any]:
    await _check_kiosk_device()
    reward = await _bench_reward()
    found = await _topped_up_members(args.min_available)
    return {
        "reward": to_global_id("Reward", reward.id),
        "member_tokens": _member_tokens(found, args.token_ttl),
    }


async def _bench_cause() -> Cause:
    cause = await Cause.filter(name=BENCH_CAUSE.name).order_by("id").first()
    if cause is None:
        _progress(f"creating the cause {BENCH_CAUSE.name!r}")
        return await causes_catalog.create_cause(BENCH_CAUSE)
    now = datetime.now(UTC)
    if (
        not causes_donations.accepts_donations(cause, now)
        or cause.min_donation != BENCH_CAUSE.min_donation
        or cause.donation_step != BENCH_CAUSE.donation_step
        or cause.status is CauseStatus.CLOSED
    ):
        raise SystemExit(
            f"the cause {BENCH_CAUSE.name!r} was changed: it must stay open, with donations of "
            f"{BENCH_CAUSE.min_donation} points in steps of {BENCH_CAUSE.donation_step}"
        )
    return cause


async def prepare_donate(args: argparse.Namespace) -> dict[str, Any]:
    cause = await _bench_cause()
    found = await _topped_up_members(args.min_available)
    return {
        "cause": to_global_id("Cause", cause.id),
        "points": DONATION,
        "member_tokens": _member_tokens(found, args.token_ttl),
    }


async def _ledger_member() -> Member:
    member = await Member.get_or_none(email=LEDGER_MEMBER_EMAIL)
    if member is None:
        member = await members.sign_up(
            email=LEDGER_MEMBER_EMAIL, password=LEDGER_MEMBER_PASSWORD, display_name="Ledger Bench"
        )
    await accounts.open_member_account(member.id)
    return member


# One statement per dialect: the entries, numbered from $4/? to $5/?, one second apart. The
# hashes only look like a chain (lpad(hex(seq))): `loyalty verify-ledger` reports this account.
_BULK_POSTGRES: Final = """
INSERT INTO ledger_entry (account_id, counter_account_id, seq, kind, points, held_change, channel,
    actor_kind, actor_id, reference_type, reference_id, reason, lots, created_at, prev_hash, hash)
SELECT $1, $2, g, 'EARN', 1, 0, 'SYSTEM', 'system', NULL, 'bench', '', 'benchmark bulk load',
    '[]', $3::timestamptz + g * interval '1 second',
    lpad(to_hex(g - 1), 64, '0'), lpad(to_hex(g), 64, '0')
FROM generate_series($4::bigint, $5::bigint) AS g
ORDER BY g
"""
_BULK_SQLITE: Final = """
WITH RECURSIVE numbers(g) AS (SELECT ? UNION ALL SELECT g + 1 FROM numbers WHERE g < ?)
INSERT INTO ledger_entry (account_id, counter_account_id, seq, kind, points, held_change, channel,
    actor_kind, actor_id, reference_type, reference_id, reason, lots, created_at, prev_hash, hash)
SELECT ?, ?, g, 'EARN', 1, 0, 'SYSTEM', 'system', NULL, 'bench', '', 'benchmark bulk load',
    '[]', datetime(?, '+' || g || ' seconds') || '.000000+00:00',
    printf('%064x', g - 1), printf('%064x', g)
FROM numbers
"""


def _is_postgres(conn: BaseDBAsyncClient) -> bool:
    return conn.capabilities.dialect == "postgres"


async def _bulk_load(account: LedgerAccount, target: int, conn: BaseDBAsyncClient) -> None:
    """Append entries seq entry_count+1..target to the (locked) account, with one lot holding
    their points, so that balance == Σ entries == Σ lots still holds for it."""
    first = account.entry_count + 1
    missing = target - account.entry_count
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=target + 60)
    program = await accounts.program_account_id(conn)
    if _is_postgres(conn):
        await conn.execute_query(_BULK_POSTGRES, [account.id, program, start, first, target])
    else:
        stamp = start.strftime("%Y-%m-%d %H:%M:%S")
        await conn.execute_query(_BULK_SQLITE, [first, target, account.id, program, stamp])
    last = await LedgerEntry.filter(account_id=account.id, seq=target).using_db(conn).get()
    now = datetime.now(UTC)
    await PointsLot.create(
        account_id=account.id,
        entry_id=last.id,
        points=missing,
        remaining=missing,
        expires_at=earning.points_expiry(now),
        created_at=now,
        using_db=conn,
    )
    account.balance += missing
    account.lifetime_earned += missing
    account.entry_count = target
    account.head_hash = last.hash
    await account.save(
        using_db=conn, update_fields=["balance", "lifetime_earned", "entry_count", "head_hash"]
    )


async def prepare_ledger(args: argparse.Namespace) -> dict[str, Any]:
    target: int = args.entries
    if target < DEEP_CURSOR_SEQ:
        raise SystemExit(f"--entries must be at least {DEEP_CURSOR_SEQ}")
    member = await _ledger_member()
    async with in_transaction() as conn:
        locked = await accounts.lock_member_account(member.id, conn)
        if locked.row.entry_count < target:
            _progress(
                f"bulk-loading {target - locked.row.entry_count:,} ledger entries for "
                f"{LEDGER_MEMBER_EMAIL} (once per database)"
            )
            await _bulk_load(locked.row, target, conn)
    if _is_postgres(connections.get("default")):
        # What autovacuum would do soon after such a load: the planner needs the new sizes.
        await connections.get("default").execute_script("ANALYZE ledger_entry")
    account = await LedgerAccount.get(code=accounts.member_account_code(member.id))
    deep = await LedgerEntry.get(account_id=account.id, seq=DEEP_CURSOR_SEQ)
    return {
        "entries": account.entry_count,
        "deep_cursor": encode_cursor(deep.id),
        "deep_cursor_seq": DEEP_CURSOR_SEQ,
    }


async def _home_member() -> Member:
    member = await Member.get_or_none(email=HOME_MEMBER_EMAIL)
    if member is None:
        member = await members.sign_up(
            email=HOME_MEMBER_EMAIL, password=HOME_MEMBER_PASSWORD, display_name="Home Bench"
        )
    await accounts.open_member_account(member.id)
    return member


async def _ensure_home_challenges(now: datetime) -> None:
    """At least HOME_CHALLENGES active challenges anyone sees: the seed's, then check-in
    counts (no purchase, redemption or donation evaluates them, so the write rows do not)."""
    visible = await Challenge.filter(status=ChallengeStatus.ACTIVE, hidden=False).count()
    for n in range(1, HOME_CHALLENGES - visible + 1):
        title = f"Benchmark check-ins {n:02d}"
        if await Challenge.filter(title=title).exists():
            continue  # archived by someone: not counted above, and not made twice
        await challenges_definitions.create_challenge(
            challenges_definitions.ChallengeInput(
                title=title,
                goal_type=GoalType.COUNT,
                target=Decimal(30 + n),
                event_kind=EventKind.CHECK_IN.value,
                window_kind=WindowKind.FIXED,
                starts_at=now - timedelta(days=1),
                ends_at=now + timedelta(days=3650),
                description="Made by the benchmark for the home-screen row.",
            )
        )


async def _ensure_home_badges(member: Member, now: datetime) -> int:
    catalog = []
    for n in range(1, HOME_BADGES + 1):
        name = f"Benchmark badge {n:02d}"
        badge = await Badge.get_or_none(name=name)
        catalog.append(
            badge
            or await badges.create_badge(
                badges.BadgeInput(name=name, rule=BadgeRule.CHALLENGE, description="Benchmark.")
            )
        )
    async with in_transaction() as conn:
        await accounts.lock_member_account(member.id, conn, now)  # awards are made under it
        for badge in catalog:
            await badges.award(conn, member.id, badge.id, now)
    return len(catalog)


async def _home_activity(member: Member, now: datetime) -> None:
    """A purchase at the till, today's check-in, the opt-in challenges joined and two eco
    actions at the kiosk: progress in most challenges. Each replays or is refused on a rerun."""
    till = await Device.get(id=POS_DEVICE_ID)
    kiosk = await Device.get(id=KIOSK_DEVICE_ID)
    await purchases.record_purchase(
        actor=Actor(
            kind=ActorKind.DEVICE,
            id=till.id,
            store_id=till.store_id,  # type: ignore[attr-defined]
            channel=till.channel,
        ),
        data=purchases.PurchaseInput(
            member_id=member.id,
            card_number=None,
            amount=Decimal("64.50"),
            currency="EUR",
            channel=till.channel,
            store_id=till.store_id,  # type: ignore[attr-defined]
            external_id="bench-home-purchase",
            occurred_at=now,
        ),
        idempotency_key="bench-home-purchase",
    )
    with contextlib.suppress(Refused):  # checked in earlier today
        await eco_actions.check_in(member_id=member.id, now=now)
    person = Actor(kind=ActorKind.MEMBER, id=member.id)
    for challenge in await Challenge.filter(
        status=ChallengeStatus.ACTIVE, opt_in=True, hidden=False
    ):
        with contextlib.suppress(LoyaltyError):  # joined on an earlier run
            await challenges_progress.join_challenge(
                actor=person, challenge_id=challenge.id, now=now
            )
    kiosk_actor = Actor(
        kind=ActorKind.DEVICE,
        id=kiosk.id,
        store_id=kiosk.store_id,  # type: ignore[attr-defined]
        channel=kiosk.channel,
    )
    for n, (kind, quantity) in enumerate([("recycling", 12), ("refill", 1)]):
        with contextlib.suppress(LoyaltyError):  # an eco kind the seed did not make
            await eco_actions.record_eco_action(
                actor=kiosk_actor,
                member_id=member.id,
                kind_code=kind,
                quantity=quantity,
                external_id=f"bench-home-eco-{n}",
            )


async def _ensure_expiring_points(member: Member, now: datetime) -> None:
    """A lot that expires within the home screen's 30 days, while none does."""
    account = await LedgerAccount.get(code=accounts.member_account_code(member.id))
    if await PointsLot.filter(
        account_id=account.id, remaining__gt=0, expires_at__lte=now + timedelta(days=30)
    ).exists():
        return
    async with in_transaction() as conn:
        locked = await accounts.lock_member_account(member.id, conn, now)
        await movements.credit(
            locked,
            HOME_EXPIRING_POINTS,
            kind=EntryKind.BONUS,
            origin=Origin.system(),
            reference=Reference("bench", "", "points expiring soon"),
            expires_at=now + timedelta(days=20),
        )
        await accounts.save_account(locked)


async def prepare_home(args: argparse.Namespace) -> dict[str, Any]:
    await _check_pos_device()
    await _check_kiosk_device()
    await _ensure_earn_rule()
    now = datetime.now(UTC)
    member = await _home_member()
    await _ensure_home_challenges(now)
    await _home_activity(member, now)
    held = await _ensure_home_badges(member, now)
    await _ensure_expiring_points(member, now)
    settings = get_settings()
    if not settings.redis_url.startswith(MEMORY_SCHEME):
        # The writes above went around the GraphQL layer that updates the boards after commit;
        # the stand-in is filled from the ledger by each server process when it starts.
        redis = create_redis(settings)
        try:
            await reconcile.reconcile_member(redis, member.id)
            # Likewise the member's view version: no home screen kept from before is served.
            await view_versions.bump(redis, [member.id])
        finally:
            await redis.aclose()
    return {
        "member": to_global_id("Member", member.id),
        "challenges": await Challenge.filter(status=ChallengeStatus.ACTIVE, hidden=False).count(),
        "badges": held,
    }


# Members search-bench-N (N from $1/? to $2/?), card number 9 and N in 15 digits. Sign-ups draw
# 16 random digits, so a clash is possible (one in ~10^10 per member): the unique index would
# then stop the load with an error, never give two members one card. Their role is `staff` (of no
# store): `loyalty seed`, which the harness runs before every run, gives each `member` a purchase
# history, and would write some 500,000 purchases for them. The search does not look at roles.
_MEMBERS_POSTGRES: Final = """
INSERT INTO member (email, display_name, timezone, marketing_consent, leaderboard_visible, role,
    card_number, created_at, updated_at)
SELECT 'search-bench-' || g || '@example.com', 'Bench ' || g, 'UTC', false, true, 'staff',
    '9' || lpad(g::text, 15, '0'), now(), now()
FROM generate_series($1::bigint, $2::bigint) AS g
"""
_MEMBERS_SQLITE: Final = """
WITH RECURSIVE numbers(g) AS (SELECT ? UNION ALL SELECT g + 1 FROM numbers WHERE g < ?)
INSERT INTO member (email, display_name, timezone, marketing_consent, leaderboard_visible, role,
    card_number, created_at, updated_at)
SELECT 'search-bench-' || g || '@example.com', 'Bench ' || g, 'UTC', 0, 1, 'staff',
    '9' || printf('%015d', g), datetime('now'), datetime('now')
FROM numbers
"""


async def prepare_members(args: argparse.Namespace) -> dict[str, Any]:
    target: int = args.members
    loaded = await Member.filter(email__startswith="search-bench-").count()
    total = await Member.all().count()
    if total < target:
        first, last = loaded + 1, loaded + target - total
        _progress(f"bulk-loading {last - first + 1:,} members for the search rows")
        async with in_transaction() as conn:
            sql = _MEMBERS_POSTGRES if _is_postgres(conn) else _MEMBERS_SQLITE
            await conn.execute_query(sql, [first, last])
    if _is_postgres(connections.get("default")):
        await connections.get("default").execute_script("ANALYZE member")
    loaded = await Member.filter(email__startswith="search-bench-").count()
    picked = sorted({random.randint(1, loaded) for _ in range(SEARCH_SAMPLES)}) if loaded else []
    return {
        "members": await Member.all().count(),
        "emails": [f"search-bench-{n}@example.com" for n in picked],
        "cards": [f"9{n:015d}" for n in picked],
    }


TASKS: Final[dict[str, Callable[[argparse.Namespace], Awaitable[dict[str, Any]]]]] = {
    "purchase": prepare_purchase,
    "spend": prepare_spend,
    "ledger": prepare_ledger,
    "redeem": prepare_redeem,
    "donate": prepare_donate,
    "home": prepare_home,
    "members": prepare_members,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.prepare_data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument(
        "--min-available", type=int, default=100_000, help="spend, redeem, donate: top-up below"
    )
    parser.add_argument(
        "--token-ttl", type=int, default=24 * 3600, help="redeem, donate: tokens' lifetime (s)"
    )
    parser.add_argument("--entries", type=int, default=1_000_000, help="ledger: history length")
    parser.add_argument("--members", type=int, default=100_000, help="members: how many in all")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    program_settings.configure(get_settings())

    async def run() -> dict[str, Any]:
        await init_database(get_settings())
        try:
            return await TASKS[args.task](args)
        finally:
            await close_database()

    facts = asyncio.run(run())
    print(json.dumps(facts, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
