"""What staff and store devices may see of a card holder: narrower views than `Member`, which
only the member and admins reach.

- `StoreMember` (staff, admins): name, card number, available points and the open holds at the
  staff member's store (every store's, for an admin).
- `CardHolder` (tills, kiosks, web shops, staff, admins): the first name and available points.
"""

from __future__ import annotations

import strawberry

from gamification.members import search
from gamification.members.models import Member
from schema.context import Info
from schema.dataloaders import PointsKey
from schema.kiosk.types import PointsHoldType


async def _available(info: Info, member_id: int) -> int:
    return (await info.context.loaders.points.load(PointsKey(member_id))).summary.available


@strawberry.type(
    name="StoreMember",
    description="A card holder as staff see them at the till: no e-mail, birthday or history.",
)
class StoreMemberType:
    pk: strawberry.Private[int]
    store_id: strawberry.Private[int | None]
    display_name: str
    card_number: str

    @classmethod
    def of(cls, member: Member, *, store_id: int | None) -> StoreMemberType:
        return cls(
            pk=member.id,
            store_id=store_id,
            display_name=member.display_name,
            card_number=member.card_number,
        )

    @strawberry.field(description="Points the member can spend now (balance less holds).")
    async def available_points(self, info: Info) -> int:
        return await _available(info, self.pk)

    @strawberry.field(description="Holds not yet captured, released or expired, at this store.")
    async def open_holds(self) -> list[PointsHoldType]:
        holds = await search.open_holds(self.pk, store_id=self.store_id)
        return [PointsHoldType.from_model(hold) for hold in holds]


@strawberry.type(
    name="CardHolder",
    description="What a kiosk or till may show of the card's holder: a first name and points.",
)
class CardHolderType:
    pk: strawberry.Private[int]
    first_name: str

    @strawberry.field(description="Points the member can spend now (balance less holds).")
    async def available_points(self, info: Info) -> int:
        return await _available(info, self.pk)
