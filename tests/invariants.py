"""The ledger's invariants, checked after every scenario that moves points."""

from __future__ import annotations

from collections import defaultdict

from gamification.ledger.entries import derived_balances, verify_account_chain
from gamification.ledger.models import AccountKind, LedgerAccount, PointsLot


async def assert_books_balance() -> None:
    """balance = Σ entries = Σ unspent lots; available = balance − held ≥ 0; nothing negative;
    the program's books balance (Σ over all accounts = 0); every hash chain verifies."""
    derived = await derived_balances()
    lots_by_account: dict[int, int] = defaultdict(int)
    for lot in await PointsLot.all():
        assert 0 <= lot.remaining <= lot.points, f"lot {lot.id} out of range"
        lots_by_account[lot.account_id] += lot.remaining  # type: ignore[attr-defined]
    for account in await LedgerAccount.all():
        if account.kind is AccountKind.MEMBER:
            assert account.balance == derived.get(account.id, 0), f"account {account.id} cache"
            assert account.balance == lots_by_account[account.id], f"account {account.id} lots"
            assert account.held >= 0
            assert account.balance - account.held >= 0, f"account {account.id} over-held"
            assert account.clawback_outstanding >= 0
            check = await verify_account_chain(account.id)
            assert check.ok, check
    assert sum(derived.values()) == 0
