"""`purge` deletes what is past retention and nothing younger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gamification.ledger.models import IdempotencyKey
from gamification.privacy import retention
from gamification.rewards.models import RedemptionToken
from server.settings import Settings
from tests.factories import create_member, issue_redemption_token


async def test_old_codes_and_old_idempotency_keys_go_and_recent_ones_stay(
    settings: Settings,
) -> None:
    # given: a code expired 8 days ago, one that expires soon; keys of 91 and 89 days
    member = await create_member()
    now = datetime.now(UTC)
    await issue_redemption_token(
        member=member, settings=settings, points=10, now=now - timedelta(days=8)
    )
    await issue_redemption_token(member=member, settings=settings, points=10)
    for age, key in ((91, "old"), (89, "young")):
        row = await IdempotencyKey.create(
            scope=f"member:{member.id}", key=key, operation="x", request_hash="0" * 64
        )
        await IdempotencyKey.filter(id=row.id).update(created_at=now - timedelta(days=age))

    # when
    purged = await retention.purge(now=now)

    # then
    assert purged["redemption_tokens"] == 1
    assert purged["idempotency_keys"] == 1
    assert await RedemptionToken.filter(member_id=member.id).count() == 1
    assert await IdempotencyKey.filter(scope=f"member:{member.id}").values_list(
        "key", flat=True
    ) == ["young"]
    # and again: nothing more
    assert set((await retention.purge(now=now)).values()) == {0}
