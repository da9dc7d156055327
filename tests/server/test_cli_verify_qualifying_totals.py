"""`loyalty verify-ledger` checks the maintained qualifying-point totals against the events,
and exits 1 naming the buckets that differ, like a broken hash chain. Run in a child process,
as people run it (see tests/server/test_cli.py)."""

from __future__ import annotations

from tortoise import connections

from gamification import sql
from tests.factories import create_earn_rule, create_member, create_purchase
from tests.server.helpers import loyalty_command


async def test_verify_ledger_passes_when_the_totals_match_the_events(
    service_env: dict[str, str],
) -> None:
    # given
    await create_earn_rule()
    await create_purchase(member=await create_member(), amount="30.00")

    # when
    result = await loyalty_command(service_env, "verify-ledger")

    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Every qualifying-point total matches the events." in result.stdout


async def test_verify_ledger_reports_a_total_that_differs_from_the_events(
    service_env: dict[str, str],
) -> None:
    # given: a day's total changed behind the engine's back
    await create_earn_rule()
    member = await create_member()
    await create_purchase(member=member, amount="30.00")
    [bucket] = await sql.fetch(
        connections.get("default"),
        "SELECT starts_on FROM qualifying_points_bucket WHERE member_id = $1 AND span = 'day'",
        member.id,
    )
    await sql.fetch(
        connections.get("default"),
        "UPDATE qualifying_points_bucket SET points = points + 5 "
        "WHERE member_id = $1 AND span = 'day'",
        member.id,
    )

    # when
    result = await loyalty_command(service_env, "verify-ledger")

    # then
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        f"member {member.id}: qualifying points of the day of {str(bucket['starts_on'])[:10]} "
        "kept as 35, events say 30"
    ) in result.stdout
    assert "1 qualifying-point totals differ from the events." in result.stdout
