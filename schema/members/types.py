"""GraphQL types for members and their profile."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from gamification.actors import Actor
from gamification.copies import copy_into
from gamification.members import models as members_models
from schema.causes.member_fields import MemberCauseFields
from schema.context import Info
from schema.gamification.member_fields import MemberGamificationFields
from schema.leaderboards.member_fields import MemberLeaderboardFields
from schema.notifications.member_fields import MemberNotificationFields
from schema.points.member_fields import MemberPointsFields
from schema.privacy.member_fields import MemberPrivacyFields
from schema.relay import Node, register_node, to_global_id
from schema.rewards.member_fields import MemberRewardFields

Role = strawberry.enum(members_models.Role, name="Role")


@strawberry.type(name="Member", description="A member's own profile. Only they and admins see it.")
class MemberType(
    Node,
    MemberPointsFields,
    MemberRewardFields,
    MemberCauseFields,
    MemberLeaderboardFields,
    MemberGamificationFields,
    MemberNotificationFields,
    MemberPrivacyFields,
):
    display_name: str
    email: str
    birthday: date | None
    timezone: str
    marketing_consent: bool
    leaderboard_visible: bool
    role: Role  # type: ignore[valid-type]
    card_number: str = strawberry.field(
        description="What the member card and the app's identity QR carry."
    )
    created_at: datetime

    @classmethod
    def from_model(cls, member: members_models.Member) -> MemberType:
        return copy_into(cls, member, pk=member.id, id=to_global_id("Member", member.id))


def may_read_member(actor: Actor | None, member_id: int) -> bool:
    """Member data is for the member themself and for admins."""
    return actor is not None and (actor.is_admin or (actor.is_person and actor.id == member_id))


async def load_member_node(info: Info, pk: int) -> MemberType | None:
    if not may_read_member(info.context.actor, pk):
        return None
    member = await info.context.loaders.member.load(pk)
    return MemberType.from_model(member) if member else None


register_node("Member", load_member_node)
