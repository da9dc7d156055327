"""Following members, for the friends board."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from gamification.members import follows
from schema.context import Info
from schema.payloads import payload_of, payload_type
from schema.permissions import IsPerson
from schema.relay import pk_of

FollowPayload = payload_type(
    "FollowPayload", following=(bool, "Whether you now follow the member.")
)


async def _following(
    change: Callable[[int], Awaitable[None]], member_id: strawberry.ID, following: bool
) -> FollowPayload:  # type: ignore[valid-type]
    """Whether the caller now follows the member, once `change` (follow or unfollow) is done."""

    async def done() -> FollowPayload:  # type: ignore[valid-type]
        await change(pk_of(member_id, "Member", field="memberId"))
        return FollowPayload(following=following)

    return await payload_of(FollowPayload, done)


@strawberry.type
class LeaderboardMutations:
    @strawberry.mutation(
        permission_classes=[IsPerson],
        description="Follow a member: they join your friends board. Following again is a no-op.",
    )
    async def follow(self, info: Info, member_id: strawberry.ID) -> FollowPayload:  # type: ignore[valid-type]
        actor = info.context.require_person()
        return await _following(
            lambda followee: follows.follow(follower_id=actor.id, followee_id=followee),
            member_id,
            following=True,
        )

    @strawberry.mutation(
        permission_classes=[IsPerson],
        description="Stop following a member. Unfollowing someone you do not follow is a no-op.",
    )
    async def unfollow(self, info: Info, member_id: strawberry.ID) -> FollowPayload:  # type: ignore[valid-type]
        actor = info.context.require_person()
        return await _following(
            lambda followee: follows.unfollow(follower_id=actor.id, followee_id=followee),
            member_id,
            following=False,
        )
