"""Eco causes, for everyone: members choosing where to donate, kiosks showing them, a signed-out
app presenting them (donating needs a token)."""

from __future__ import annotations

import strawberry

from gamification.causes import catalog as causes_catalog
from gamification.causes import models as causes_models
from schema.causes.types import CauseStatus, CauseType
from schema.context import Info
from schema.rate_limits import AnonymousReadLimit
from schema.relay import Connection, page_args, pk_of


@strawberry.type
class CauseQueries:
    @strawberry.field(
        description="Causes, oldest first; `status` filters on the status as shown (a cause "
        "past its `endsAt` is CLOSED). No token needed.",
        extensions=[AnonymousReadLimit()],
    )
    async def causes(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        status: CauseStatus | None = None,  # type: ignore[valid-type]
    ) -> Connection[CauseType]:
        first, after_id = page_args(info, first, after)
        page = await causes_catalog.list_causes(
            first=first,
            after_id=after_id,
            status=causes_models.CauseStatus(status) if status else None,
        )
        types = await CauseType.many(page.items)
        return Connection[CauseType].of(page, lambda cause: types[cause.id])

    @strawberry.field(
        description="One cause; null when there is no such cause. No token needed.",
        extensions=[AnonymousReadLimit()],
    )
    async def cause(self, info: Info, id: strawberry.ID) -> CauseType | None:
        found = await causes_catalog.get_cause(pk_of(id, "Cause"))
        return await CauseType.load(found) if found else None
