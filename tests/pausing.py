"""Holding one member's use case inside its transaction, to see which locks it holds."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gamification.ledger import accounts, movements
from gamification.members.models import Member


class PausedDebit:
    """Holds the member's next `movements.debit` (a redemption, a donation: after they read what
    they spend on, inside their transaction) until `release`: what other transactions can do
    meanwhile shows which locks it holds. `inside` is set once it waits."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, member: Member) -> None:
        self.inside = asyncio.Event()
        self.release = asyncio.Event()
        original = movements.debit

        async def paused(account: accounts.LockedAccount, *args: Any, **kwargs: Any) -> Any:
            if account.row.member_id == member.id:  # type: ignore[attr-defined]
                self.inside.set()
                await self.release.wait()
            return await original(account, *args, **kwargs)

        monkeypatch.setattr(movements, "debit", paused)
