"""Queries over members: `me`, the admins' member list and search, and the narrower card holder
views for staff (`storeMember`) and store devices (`cardHolder`)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from gamification.errors import NotFound
from gamification.members import search
from schema.context import Info
from schema.members.support import CardHolderType, StoreMemberType
from schema.members.types import MemberType
from schema.permissions import IsAdmin, IsPerson, IsStaffOrAdmin, IsStaffOrDevice
from schema.relay import Connection, page_args


@strawberry.type
class MemberQueries:
    @strawberry.field(permission_classes=[IsPerson], description="The caller's own profile.")
    async def me(self, info: Info) -> MemberType:
        actor = info.context.require_person()
        # Through the request's loader: the member's other fields (their timezone, for the
        # challenges) read the same row without another statement.
        member = await info.context.loaders.member.load(actor.id)
        if member is None:
            raise NotFound("Member not found", field="memberId")
        return MemberType.from_model(member)

    @strawberry.field(
        permission_classes=[IsAdmin],
        description="Members, oldest first; with filters, those matching all of them. Erased "
        "members are found by none.",
    )
    async def members(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        email: Annotated[
            str | None, strawberry.argument(description="The e-mail address, exactly (any case).")
        ] = None,
        card_number: Annotated[
            str | None,
            strawberry.argument(
                description="The card number, exactly (spaces and dashes ignored)."
            ),
        ] = None,
        name_prefix: Annotated[
            str | None,
            strawberry.argument(description="How the display name starts (any case)."),
        ] = None,
    ) -> Connection[MemberType]:
        first, after_id = page_args(info, first, after)
        page = await search.search_members(
            search.MemberFilter(email=email, card_number=card_number, name_prefix=name_prefix),
            first=first,
            after_id=after_id,
        )
        return Connection[MemberType].of(page, MemberType.from_model)

    @strawberry.field(
        permission_classes=[IsStaffOrAdmin],
        description="The card's holder as staff see them, with the open holds at their store; "
        "null for an unknown card.",
    )
    async def store_member(self, info: Info, card_number: str) -> StoreMemberType | None:
        actor = info.context.require_person()
        member = await search.card_holder(card_number)
        if member is None:
            return None
        # Staff see their own store's holds; an admin, who works in none, every store's.
        return StoreMemberType.of(member, store_id=None if actor.is_admin else actor.store_id)

    @strawberry.field(
        permission_classes=[IsStaffOrDevice],
        description="What a kiosk or till may show of the card's holder; null for an unknown card.",
    )
    async def card_holder(self, card_number: str) -> CardHolderType | None:
        member = await search.card_holder(card_number)
        if member is None:
            return None
        return CardHolderType(pk=member.id, first_name=search.first_name(member.display_name))
