"""Queries over members: `me` and the admins' member list."""

from __future__ import annotations

import strawberry

from gamification import members
from gamification.models import Member
from gamification.pagination import keyset_page
from schema.context import Info
from schema.members.types import MemberType
from schema.permissions import IsAdmin, IsPerson
from schema.relay import Connection, page_args


@strawberry.type
class MemberQueries:
    @strawberry.field(permission_classes=[IsPerson], description="The caller's own profile.")
    async def me(self, info: Info) -> MemberType:
        actor = info.context.require_person()
        return MemberType.from_model(await members.get_member(actor.id))

    @strawberry.field(permission_classes=[IsAdmin], description="Every member, oldest first.")
    async def members(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection[MemberType]:
        first, after_id = page_args(info, first, after)
        page = await keyset_page(Member.all(), first=first, after_id=after_id)
        return Connection[MemberType].of(page, MemberType.from_model)
