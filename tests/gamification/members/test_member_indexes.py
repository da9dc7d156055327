"""The member-scoped reads of the home screen find their rows through an index that starts
with the member (PostgreSQL plans; sequential scans turned off, so that a handful of test rows
does not make a full scan the cheaper plan)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

pytestmark = pytest.mark.postgres

# The shapes of the home screen's reads of challenges a member joined and completed.
MEMBER_READS = {
    "challenge_participant": "SELECT challenge_id FROM challenge_participant WHERE member_id = 7",
    "challenge_completion": (
        "SELECT DISTINCT challenge_id FROM challenge_completion "
        "WHERE member_id = 7 AND revoked_at IS NULL"
    ),
}


def _index_names(plan: dict[str, Any]) -> list[str]:
    """Every index the plan reads (the statements read one table each)."""
    names = [plan["Index Name"]] if "Index Name" in plan else []
    for child in plan.get("Plans", []):
        names += _index_names(child)
    return names


@pytest.mark.parametrize("table", sorted(MEMBER_READS))
async def test_a_members_challenge_rows_are_found_through_an_index_on_the_member(
    table: str,
) -> None:
    # given: indexes whose first column is member_id
    _, rows = await connections.get("default").execute_query(
        "SELECT i.relname AS name FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_attribute a "
        "ON a.attrelid = t.oid AND a.attnum = x.indkey[0] "
        "WHERE t.relname = $1 AND a.attname = 'member_id'",
        [table],
    )
    leading_member = {row["name"] for row in rows}

    # when
    async with in_transaction() as conn:
        await conn.execute_query("SET LOCAL enable_seqscan = off")
        _, plan_rows = await conn.execute_query(f"EXPLAIN (FORMAT JSON) {MEMBER_READS[table]}")
    raw = plan_rows[0]["QUERY PLAN"]
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]

    # then
    used = _index_names(plan)
    assert used, plan
    assert set(used) <= leading_member, (used, leading_member)
