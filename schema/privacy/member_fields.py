"""The privacy fields of `Member`: consents. Only the member and admins reach them, because
only they can reach the `Member` object (see `schema.members.types`)."""

from __future__ import annotations

import strawberry

from gamification.privacy import consents
from schema.context import Info
from schema.privacy.types import ConsentRecordType, ConsentType


@strawberry.type
class MemberPrivacyFields:
    pk: strawberry.Private[int]

    @strawberry.field(
        description="Marketing and notification consents, one per kind and channel, as the "
        "member's latest choice has them (not given until given)."
    )
    async def consents(self, info: Info) -> list[ConsentType]:
        return [ConsentType.from_state(s) for s in await consents.current(self.pk)]

    @strawberry.field(description="Every consent given or withdrawn, newest first.")
    async def consent_history(self, info: Info) -> list[ConsentRecordType]:
        return [ConsentRecordType.from_model(r) for r in await consents.history(self.pk)]
