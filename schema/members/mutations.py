"""Sign-up, log-in and profile changes."""

from __future__ import annotations

from datetime import date

import strawberry

from channels.credentials import issue_member_token
from gamification.members import profiles as members
from gamification.members.models import Member
from schema.context import Info
from schema.errors import UserError, errors_of
from schema.members.types import MemberType
from schema.permissions import IsPerson


@strawberry.type
class AuthPayload:
    token: str | None = None
    member: MemberType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpdateProfilePayload:
    member: MemberType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _signed_in(member: Member | None, errors: list[UserError], info: Info) -> AuthPayload:
    if member is None:
        return AuthPayload(errors=errors)
    return AuthPayload(
        token=issue_member_token(member, info.context.settings),
        member=MemberType.from_model(member),
    )


@strawberry.type
class MemberMutations:
    @strawberry.mutation(description="Create a member account and return an access token.")
    async def sign_up(
        self,
        info: Info,
        email: str,
        password: str,
        display_name: str,
        birthday: date | None = None,
        timezone: str = "UTC",
        marketing_consent: bool = False,
    ) -> AuthPayload:
        member, errors = await errors_of(
            lambda: members.sign_up(
                email=email,
                password=password,
                display_name=display_name,
                birthday=birthday,
                timezone=timezone,
                marketing_consent=marketing_consent,
            )
        )
        return _signed_in(member, errors, info)

    @strawberry.mutation(description="Exchange an email and password for an access token.")
    async def log_in(self, info: Info, email: str, password: str) -> AuthPayload:
        member, errors = await errors_of(
            lambda: members.authenticate(email=email, password=password)
        )
        return _signed_in(member, errors, info)

    @strawberry.mutation(permission_classes=[IsPerson], description="Change your own profile.")
    async def update_profile(
        self,
        info: Info,
        display_name: str | None = strawberry.UNSET,
        birthday: date | None = strawberry.UNSET,
        timezone: str | None = strawberry.UNSET,
        marketing_consent: bool | None = strawberry.UNSET,
        leaderboard_visible: bool | None = strawberry.UNSET,
    ) -> UpdateProfilePayload:
        actor = info.context.require_person()
        # `birthday: null` clears it; for the other fields null means "leave as it is".
        changes = members.ProfileChanges(
            display_name=members.UNSET
            if display_name in (None, strawberry.UNSET)
            else display_name,
            birthday=members.UNSET if birthday is strawberry.UNSET else birthday,
            timezone=members.UNSET if timezone in (None, strawberry.UNSET) else timezone,
            marketing_consent=members.UNSET
            if marketing_consent in (None, strawberry.UNSET)
            else marketing_consent,
            leaderboard_visible=members.UNSET
            if leaderboard_visible in (None, strawberry.UNSET)
            else leaderboard_visible,
        )
        member, errors = await errors_of(lambda: members.update_profile(actor.id, changes))
        return UpdateProfilePayload(
            member=MemberType.from_model(member) if member else None, errors=errors
        )
