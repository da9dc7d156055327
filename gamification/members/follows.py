"""Members following other members, for the friends leaderboard. Following is one-way and
needs no consent: it only ranks the follower among the people they follow, with the names those
people chose to show (see `leaderboards.listings`)."""

from __future__ import annotations

from gamification import program_settings
from gamification.errors import ErrorCode, InvalidInput, NotFound, Refused
from gamification.members.models import Follow, Member


async def follow(*, follower_id: int, followee_id: int) -> None:
    """Follow a member; following someone already followed changes nothing.

    Raises InvalidInput(CANNOT_FOLLOW_SELF), NotFound(UNKNOWN_MEMBER), Refused(TOO_MANY_FOLLOWS)
    when the follower already follows `max_follows` members.
    """
    if follower_id == followee_id:
        raise InvalidInput(
            "You cannot follow yourself", code=ErrorCode.CANNOT_FOLLOW_SELF, field="memberId"
        )
    if not await Member.filter(id=followee_id).exists():
        raise NotFound("No such member", code=ErrorCode.UNKNOWN_MEMBER, field="memberId")
    if await Follow.filter(follower_id=follower_id, followee_id=followee_id).exists():
        return
    limit = program_settings.current().max_follows
    # Two concurrent follows may both pass this count and end one over the limit: the limit
    # bounds the friends board's size, it is not a quota anyone is owed.
    if await Follow.filter(follower_id=follower_id).count() >= limit:
        raise Refused(
            f"You can follow at most {limit} members",
            code=ErrorCode.TOO_MANY_FOLLOWS,
            field="memberId",
        )
    # ON CONFLICT DO NOTHING: a concurrent identical follow is not an error.
    await Follow.bulk_create(
        [Follow(follower_id=follower_id, followee_id=followee_id)], ignore_conflicts=True
    )


async def unfollow(*, follower_id: int, followee_id: int) -> None:
    """Stop following a member; unfollowing someone not followed changes nothing."""
    await Follow.filter(follower_id=follower_id, followee_id=followee_id).delete()


async def followee_ids(follower_id: int) -> list[int]:
    """The members `follower_id` follows, in the order they were followed."""
    return list(
        await Follow.filter(follower_id=follower_id)
        .order_by("id")
        .values_list("followee_id", flat=True)  # type: ignore[arg-type]
    )


async def is_following(*, follower_id: int, followee_id: int) -> bool:
    return await Follow.filter(follower_id=follower_id, followee_id=followee_id).exists()
