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
"""

from __future__ import annotations

import argparse
import asyncio
import json
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

from gamification import earning, ledger, members, points
from gamification.actors import Actor, ActorKind
from gamification.models import (
    Channel,
    Device,
    EarnRule,
    LedgerAccount,
    LedgerEntry,
    Member,
    PointsLot,
    Role,
)
from schema.relay import encode_cursor, to_global_id
from server.database import close_database, init_database
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


async def prepare_spend(args: argparse.Namespace) -> dict[str, Any]:
    admin = await Member.get_or_none(email=ADMIN_EMAIL, role=Role.ADMIN)
    if admin is None:
        raise SystemExit(f"no admin {ADMIN_EMAIL}: did `loyalty seed` run?")
    actor = Actor(kind=ActorKind.ADMIN, id=admin.id)
    found = await _seeded_members()
    topped = 0
    for member in found:
        summary = await points.summary(member.id)
        if summary.available >= args.min_available:
            continue
        await points.adjust_points(
            actor=actor,
            member_id=member.id,
            points=points.MAX_ADJUSTMENT,
            reason="benchmark top-up before the spend row",
            idempotency_key=f"bench-topup-{uuid.uuid4().hex}",
        )
        topped += 1
    _progress(f"topped up {topped} of {len(found)} members by {points.MAX_ADJUSTMENT} points")
    return {"members": [to_global_id("Member", m.id) for m in found]}


async def _ledger_member() -> Member:
    member = await Member.get_or_none(email=LEDGER_MEMBER_EMAIL)
    if member is None:
        member = await members.sign_up(
            email=LEDGER_MEMBER_EMAIL, password=LEDGER_MEMBER_PASSWORD, display_name="Ledger Bench"
        )
    await ledger.open_member_account(member.id)
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
    program = await ledger.program_account_id(conn)
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
        expires_at=earning.expiry_for(now, get_settings().points_expiry_months),
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
        locked = await ledger.lock_member_account(member.id, conn)
        if locked.row.entry_count < target:
            _progress(
                f"bulk-loading {target - locked.row.entry_count:,} ledger entries for "
                f"{LEDGER_MEMBER_EMAIL} (once per database)"
            )
            await _bulk_load(locked.row, target, conn)
    if _is_postgres(connections.get("default")):
        # What autovacuum would do soon after such a load: the planner needs the new sizes.
        await connections.get("default").execute_script("ANALYZE ledger_entry")
    account = await LedgerAccount.get(code=ledger.member_account_code(member.id))
    deep = await LedgerEntry.get(account_id=account.id, seq=DEEP_CURSOR_SEQ)
    return {
        "entries": account.entry_count,
        "deep_cursor": encode_cursor(deep.id),
        "deep_cursor_seq": DEEP_CURSOR_SEQ,
    }


TASKS: Final[dict[str, Callable[[argparse.Namespace], Awaitable[dict[str, Any]]]]] = {
    "purchase": prepare_purchase,
    "spend": prepare_spend,
    "ledger": prepare_ledger,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.prepare_data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--min-available", type=int, default=100_000, help="spend: top-up below")
    parser.add_argument("--entries", type=int, default=1_000_000, help="ledger: history length")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

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
