"""The tier ladder, the challenges with the caller's progress, and the badge catalog. The ladder
and the challenges that are not hidden are public: a signed-out app shows them."""

from __future__ import annotations

import strawberry

from gamification.badges import awards as badges
from gamification.challenges import definitions as challenges_definitions
from gamification.challenges import models as challenges_models
from gamification.challenges import views as challenges_views
from gamification.tiers import ladder as tiers
from schema.context import Info
from schema.gamification.types import BadgeType, ChallengeStatus, ChallengeType, TierType
from schema.rate_limits import AnonymousReadLimit
from schema.relay import Connection, page_args, register_node


async def challenge_connection(
    info: Info,
    member_id: int | None,
    first: int,
    after: str | None,
    status: challenges_models.ChallengeStatus,
    *,
    as_admin: bool,
) -> Connection[ChallengeType]:
    """A page of challenges with `member_id`'s progress: the definitions come from the
    process's cache, the member's standing in all of them from one statement."""
    first, after_id = page_args(info, first, after)
    catalog = await challenges_definitions.catalog(challenges_models.ChallengeStatus(status))
    if member_id is None:
        page = challenges_views.page_of(
            catalog, first=first, after_id=after_id, include_hidden=as_admin
        )
        return Connection[ChallengeType].of(page, ChallengeType.from_model)
    member = await info.context.loaders.member.load(member_id)  # shared with `me`
    standing = await challenges_views.standing(member_id, member.timezone if member else "UTC")
    page = challenges_views.page_of(
        catalog,
        first=first,
        after_id=after_id,
        include_hidden=as_admin,
        earned=standing.earned,
    )
    views = {v.challenge.id: v for v in challenges_views.views_of(standing, page.items)}
    return Connection[ChallengeType].of(
        page, lambda c: ChallengeType.from_model(c, views.get(c.id))
    )


@strawberry.type
class GamificationQueries:
    @strawberry.field(
        description="The tier ladder, lowest first, with benefits. No token needed.",
        extensions=[AnonymousReadLimit()],
    )
    async def tiers(self, info: Info) -> list[TierType]:
        return [TierType.from_model(t) for t in await tiers.program_ladder()]

    @strawberry.field(
        description="Challenges, oldest first, with the caller's progress. Hidden ones appear "
        "once earned (admins see them all). Without a token: the ones not hidden, no progress.",
        extensions=[AnonymousReadLimit()],
    )
    async def challenges(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        status: ChallengeStatus = challenges_models.ChallengeStatus.ACTIVE,  # type: ignore[valid-type]
    ) -> Connection[ChallengeType]:
        actor = info.context.actor
        member_id = actor.id if actor is not None and actor.is_person else None
        as_admin = actor is not None and actor.is_admin
        return await challenge_connection(info, member_id, first, after, status, as_admin=as_admin)

    @strawberry.field(description="The badge catalog with each badge's rarity.")
    async def badges(self, info: Info) -> list[BadgeType]:
        info.context.require_actor()
        return [BadgeType.of(entry) for entry in await badges.catalog()]


async def load_challenge_node(info: Info, pk: int) -> ChallengeType | None:
    """A challenge for `node(id:)`: hidden ones only to admins and to members who earned them."""
    actor = info.context.actor
    if actor is None:
        return None
    found = await challenges_models.Challenge.get_or_none(id=pk)
    if found is None:
        return None
    member_id = actor.id if actor.is_person else None
    if found.hidden and not actor.is_admin:
        earned = (
            member_id is not None
            and await challenges_models.ChallengeCompletion.filter(
                challenge_id=pk, member_id=member_id, revoked_at__isnull=True
            ).exists()
        )
        if not earned:
            return None
    views = await challenges_views.views_for(member_id, [found]) if member_id is not None else []
    return ChallengeType.from_model(found, views[0] if views else None)


register_node("Challenge", load_challenge_node)
