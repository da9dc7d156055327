"""Random sequences of ledger operations keep every invariant after every step."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tortoise.transactions import in_transaction

from gamification.ledger import accounts, movements, points
from gamification.ledger.entries import Origin, Reference
from gamification.ledger.models import EntryKind
from gamification.ledger.movements import InsufficientPoints
from tests.factories import consent_of, create_member
from tests.gamification.ledger.helpers import NOW
from tests.invariants import assert_books_balance

ORIGIN = Origin.system()
REF = Reference("property")

operations = st.lists(
    st.tuples(
        st.sampled_from(["earn", "spend", "hold", "settle", "refund", "expire", "adjust"]),
        st.integers(min_value=1, max_value=500),
        st.integers(min_value=0, max_value=100),  # days until expiry / capture percent
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=operations)
async def test_random_operation_sequences_keep_the_invariants(
    steps: list[tuple[str, int, int]],
) -> None:
    member = await create_member()
    now = NOW
    holds: list[int] = []
    for op, amount, extra in steps:
        now += timedelta(days=1)
        if op == "expire":
            await points.expire_points(now=now + timedelta(days=extra))
            now += timedelta(days=extra)
            await assert_books_balance()
            continue
        async with in_transaction() as conn:
            account = await accounts.lock_member_account(member.id, conn, now)
            try:
                if op == "earn":
                    await movements.credit(
                        account,
                        amount,
                        kind=EntryKind.EARN,
                        origin=ORIGIN,
                        reference=REF,
                        expires_at=now + timedelta(days=extra + 1),
                    )
                elif op == "spend":
                    await movements.debit(
                        account,
                        amount,
                        kind=EntryKind.REDEEM,
                        origin=ORIGIN,
                        reference=REF,
                        consent=consent_of(member.id),
                    )
                elif op == "hold":
                    await movements.place_hold(
                        account,
                        amount,
                        origin=ORIGIN,
                        reference=REF,
                        consent=consent_of(member.id),
                    )
                    holds.append(amount)
                elif op == "settle" and holds:
                    held = holds.pop(0)
                    await movements.settle_hold(
                        account,
                        held,
                        held * extra // 100,
                        origin=ORIGIN,
                        reference=REF,
                        consent=consent_of(member.id),
                    )
                elif op == "refund":
                    await movements.claw_back(account, amount, origin=ORIGIN, reference=REF)
                elif op == "adjust":
                    await movements.restore(
                        account,
                        amount,
                        kind=EntryKind.ADJUST,
                        origin=ORIGIN,
                        reference=REF,
                        expires_at=now + timedelta(days=30),
                    )
            except InsufficientPoints:
                pass  # a refusal writes nothing: the account is saved unchanged below
            await accounts.save_account(account)
        await assert_books_balance()
        summary = await points.summary(member.id)
        assert summary.held == sum(holds)
