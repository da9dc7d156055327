"""The member's state as the engine reads it in a transaction: `gamification.members.state`
loaded with the program's qualification window (`gamification.tiers.windows.window_start`) and
the purchase count the badges need (`gamification.badges.awards.purchase_cap`); and the earn
multiplier of the tier it holds.

Here, above tiers and badges, because the state's loading needs both and both read the state.
"""

from __future__ import annotations

from decimal import Decimal

from gamification.badges import awards as badges
from gamification.ledger.accounts import LockedAccount
from gamification.members import state as member_state
from gamification.tiers import ladder as tiers
from gamification.tiers import windows as tier_windows


async def state_of(account: LockedAccount) -> member_state.MemberState:
    """The member's state in the transaction of their locked account (read on first use)."""
    member_id: int = account.row.member_id  # type: ignore[attr-defined]
    state = member_state.cached(account.conn, member_id)
    if state is not None:
        return state
    return await member_state.load(
        account.conn,
        member_id,
        account.now,
        since=tier_windows.window_start(account.now),
        purchase_cap=await badges.purchase_cap(),
    )


async def earn_multiplier(account: LockedAccount) -> Decimal:
    """The earn multiplier of the tier the member holds (1 without a tier)."""
    tier = await tiers.held_tier(await state_of(account))
    return Decimal(tier.earn_multiplier) if tier is not None else Decimal(1)
