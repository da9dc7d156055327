"""Following members, for the friends board."""

from __future__ import annotations

import strawberry

from gamification.members import follows
from schema.context import Info
from schema.errors import UserError, errors_of
from schema.permissions import IsPerson
from schema.relay import pk_of


@strawberry.type
class FollowPayload:
    following: bool | None = strawberry.field(
        default=None, description="Whether you now follow the member."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class LeaderboardMutations:
    @strawberry.mutation(
        permission_classes=[IsPerson],
        description="Follow a member: they join your friends board. Following again is a no-op.",
    )
    async def follow(self, info: Info, member_id: strawberry.ID) -> FollowPayload:
        actor = info.context.require_person()

        async def run() -> bool:
            followee_id = pk_of(member_id, "Member", field="memberId")
            await follows.follow(follower_id=actor.id, followee_id=followee_id)
            return True

        following, errors = await errors_of(run)
        return FollowPayload(following=following, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsPerson],
        description="Stop following a member. Unfollowing someone you do not follow is a no-op.",
    )
    async def unfollow(self, info: Info, member_id: strawberry.ID) -> FollowPayload:
        actor = info.context.require_person()

        async def run() -> bool:
            followee_id = pk_of(member_id, "Member", field="memberId")
            await follows.unfollow(follower_id=actor.id, followee_id=followee_id)
            return False

        following, errors = await errors_of(run)
        return FollowPayload(following=following, errors=errors)
