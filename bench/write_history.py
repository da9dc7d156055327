"""What a purchase costs as the member's history grows: `recordPurchase` (the use case, in
process, without HTTP) for members with 10 and with 5,000 prior events, in one run.

A write must not read the member's history: qualifying points come from maintained totals
(`gamification.tiers.qualifying`), so the cost at 5,000 prior events should stay within 1.1× of
the cost at 10 (docs/benchmarks.md). Each row has its own pool of fresh members (--members), whose
prior events are bulk-loaded in SQL as purchase events spread over the last 360 days, one
qualifying point each; purchases alternate between the rows so that both see the same load.
Besides the whole use case it times the member-state load alone (`gamification.members.state`,
the statement that used to sum the history), in a transaction of its own.

    createdb -h 127.0.0.1 -U postgres loyalty_bench_h7
    export LOYALTY_DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench_h7
    .venv/bin/loyalty migrate && .venv/bin/loyalty seed
    .venv/bin/python -m bench.write_history --purchases 300

The database must have been seeded (`loyalty seed`: the City Centre till, device 2). The
members and their histories are made once and reused by later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from gamification import program_settings
from gamification.actors import Actor, ActorKind
from gamification.earning import purchases
from gamification.earning import rules as earning
from gamification.earning.models import EarnRule
from gamification.events.models import DomainEvent
from gamification.ledger import accounts
from gamification.members import profiles as members
from gamification.members import state as member_state
from gamification.members.models import Member
from gamification.stores.models import Channel, Device
from gamification.tiers.windows import window_start
from server.database import close_database, init_database
from server.settings import get_settings

POS_DEVICE_ID: Final = 2
PASSWORD: Final = "history-bench-long-enough-2026"

# Prior events, spread over the last 360 days (so that all of them are in a rolling window).
_BULK_POSTGRES: Final = """
INSERT INTO domain_event (member_id, kind, source_key, occurred_at, local_date, amount, quantity,
    channel, store_id, categories, subject, qualifying_points, created_at)
SELECT $1::bigint, 'PURCHASE_RECORDED', 'bench-history:' || $1::bigint || ':' || g,
    $2::timestamptz - (g * (360 * 86400 / $4::bigint)) * interval '1 second',
    ($2::timestamptz - (g * (360 * 86400 / $4::bigint)) * interval '1 second')::date,
    1, 1, 'POS', NULL, '[]', '', 1, $2::timestamptz
FROM generate_series($3::bigint, $4::bigint) AS g
"""


async def _member_with_history(
    label: str, history: int, number: int, conn: BaseDBAsyncClient
) -> int:
    email = f"history-{label}-{history}-{number}@bench.example.com"
    member = await Member.get_or_none(email=email)
    if member is None:
        member = await members.sign_up(
            email=email, password=PASSWORD, display_name=f"History {history} #{number}"
        )
    await accounts.open_member_account(member.id)
    have = await DomainEvent.filter(member_id=member.id).count()
    if have < history:
        await conn.execute_query(_BULK_POSTGRES, [member.id, datetime.now(UTC), have + 1, history])
        await _rebuild_totals(member.id)
    return member.id


async def _rebuild_totals(member_id: int) -> None:
    """Bring the member's maintained qualifying totals in line with the bulk-loaded events
    (when this code base keeps them)."""
    try:
        from gamification.tiers import qualifying  # type: ignore[attr-defined, unused-ignore]
    except ImportError:  # measuring a code base from before the maintained totals
        return
    await qualifying.rebuild(member_id)


async def _purchase(device: Device, member_id: int, number: int) -> float:
    started = time.perf_counter()
    await purchases.record_purchase(
        actor=Actor(
            kind=ActorKind.DEVICE,
            id=device.id,
            store_id=device.store_id,  # type: ignore[attr-defined]
            channel=device.channel,
        ),
        data=purchases.PurchaseInput(
            member_id=member_id,
            card_number=None,
            amount=Decimal(12),
            currency="EUR",
            channel=device.channel,
            store_id=device.store_id,  # type: ignore[attr-defined]
            external_id=f"history-{member_id}-{number}-{time.time_ns()}",
            occurred_at=datetime.now(UTC),
        ),
        idempotency_key=f"history-{member_id}-{number}-{time.time_ns()}",
    )
    return (time.perf_counter() - started) * 1000


async def _state_load(member_id: int) -> float:
    now = datetime.now(UTC)
    started = time.perf_counter()
    async with in_transaction() as conn:
        await member_state.load(conn, member_id, now, since=window_start(now), purchase_cap=100)
    return (time.perf_counter() - started) * 1000


def _row(name: str, samples: Sequence[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[int(len(ordered) * 0.9)]
    return (
        f"| {name} | {len(samples)} | {statistics.median(samples):.2f} | "
        f"{statistics.fmean(samples):.2f} | {p90:.2f} |"
    )


async def run(args: argparse.Namespace) -> None:
    settings = get_settings()
    if not settings.uses_postgres:
        raise SystemExit("PostgreSQL only: set LOYALTY_DATABASE_URL to a postgres:// URL")
    device = await Device.get_or_none(id=POS_DEVICE_ID)
    if device is None or device.channel is not Channel.POS:
        raise SystemExit("device 2 is not a POS till: run `loyalty seed` on this database")
    if not await EarnRule.filter(currency="EUR").exists():
        await earning.set_earn_rule(
            currency="EUR",
            points_per_unit=Decimal(1),
            minimum_spend=Decimal(0),
            category_multipliers={},
        )
    conn = DomainEvent._meta.db
    pools: dict[int, list[int]] = {}
    for history in args.histories:
        print(f"preparing {args.members} members with {history} prior events", file=sys.stderr)
        pools[history] = [
            await _member_with_history(args.label, history, number, conn)
            for number in range(args.members)
        ]
    writes: dict[int, list[float]] = {history: [] for history in args.histories}
    loads: dict[int, list[float]] = {history: [] for history in args.histories}
    total = args.warmup + args.purchases
    for number in range(total):
        for history in args.histories:
            pool = pools[history]
            member_id = pool[number % len(pool)]
            took = await _purchase(device, member_id, number)
            load = await _state_load(member_id)
            if number >= args.warmup:
                writes[history].append(took)
                loads[history].append(load)
    print("| row | n | median ms | mean ms | p90 ms |")
    print("|---|---|---|---|---|")
    for history in args.histories:
        print(_row(f"recordPurchase, {history} prior events", writes[history]))
    for history in args.histories:
        print(_row(f"member-state load, {history} prior events", loads[history]))
    low, high = min(args.histories), max(args.histories)
    for label, figures in (("recordPurchase", writes), ("member-state load", loads)):
        print(
            f"{label}: {high} ÷ {low} prior events, median "
            f"{statistics.median(figures[high]) / statistics.median(figures[low]):.3f}, mean "
            f"{statistics.fmean(figures[high]) / statistics.fmean(figures[low]):.3f} "
            "(target ≤ 1.1 for recordPurchase)"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--purchases", type=int, default=300, help="measured purchases per row")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured purchases per row")
    parser.add_argument("--members", type=int, default=30, help="members per row")
    parser.add_argument(
        "--label",
        default=f"{time.time_ns():x}",
        help="names the members: a run with a new label starts from exactly N prior events "
        "(default: a new label per run); reuse one to skip the bulk load",
    )
    parser.add_argument(
        "--histories",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[10, 5000],
        help="prior events per member, one row each (comma-separated)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    program_settings.configure(get_settings())

    async def session() -> None:
        await init_database(get_settings())
        try:
            await run(args)
        finally:
            await close_database()

    asyncio.run(session())
    return 0


if __name__ == "__main__":
    sys.exit(main())
