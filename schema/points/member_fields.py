"""The points fields of `Member`: balance, history and proof. Only the member and admins reach
them, because only they can reach the `Member` object (see `schema.members.types`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from gamification.ledger import models as ledger_models
from gamification.ledger import points as points_service
from gamification.stores import models as stores_models
from schema.context import Info
from schema.points.types import EntryKind, LedgerEntryType, LedgerProof, Points
from schema.relay import MAX_PK, Connection, page_args
from schema.stores.types import Channel


@strawberry.type
class MemberPointsFields:
    pk: strawberry.Private[int]

    @strawberry.field(description="Balance, available, held, lifetime earned, expiring soon.")
    async def points(self) -> Points:
        return Points(member_id=self.pk)  # its fields read through the request's loader

    @strawberry.field(description="Every change to the member's points, newest first.")
    async def ledger(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        kinds: list[EntryKind] | None = None,  # type: ignore[valid-type]
        channels: list[Channel] | None = None,  # type: ignore[valid-type]
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> Connection[LedgerEntryType]:
        first, before_id = page_args(info, first, after, max_pk=MAX_PK)  # 64-bit entry ids
        page = await points_service.history(
            self.pk,
            first=first,
            before_id=before_id,
            kinds=[ledger_models.EntryKind(k) for k in kinds or []],
            channels=[stores_models.Channel(c) for c in channels or []],
            since=from_,
            until=to,
        )
        return Connection[LedgerEntryType].of(page, LedgerEntryType.from_model)

    @strawberry.field(description="The head of the member's hash chain and whether it verifies.")
    async def ledger_proof(self) -> LedgerProof:
        return LedgerProof.of(await points_service.proof(self.pk))
