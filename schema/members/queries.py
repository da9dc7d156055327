"""Queries over members: `me` and the admins' member list."""

from __future__ import annotations

import strawberry

from gamification.errors import NotFound
from gamification.members.models import Member
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
        # Through the request's loader: the member's other fields (their timezone, for the
        # challenges) read the same row without another statement.
        member = await info.context.loaders.member.load(actor.id)
        if member is None:
            raise NotFound("Member not found", field="memberId")
        return MemberType.from_model(member)

    @strawberry.field(permission_classes=[IsAdmin], description="Every member, oldest first.")
    async def members(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection[MemberType]:
        first, after_id = page_args(info, first, after)
        page = await keyset_page(Member.all(), first=first, after_id=after_id)
        return Connection[MemberType].of(page, MemberType.from_model)
