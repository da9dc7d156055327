"""Sign-up, log-in and profile changes."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date

import strawberry

from channels.credentials import issue_member_token
from gamification.members import profiles as members
from gamification.members.models import Member
from schema.context import Info
from schema.members.types import MemberType
from schema.payloads import payload_of, payload_type
from schema.permissions import IsPerson

AuthPayload = payload_type("AuthPayload", token=str, member=MemberType)
UpdateProfilePayload = payload_type("UpdateProfilePayload", member=MemberType)


async def _signed_in(member: Awaitable[Member], info: Info) -> AuthPayload:  # type: ignore[valid-type]
    """The member signed in, with an access token; or why not."""

    async def sign_in() -> AuthPayload:  # type: ignore[valid-type]
        signed_in = await member
        return AuthPayload(
            token=issue_member_token(signed_in, info.context.settings),
            member=MemberType.from_model(signed_in),
        )

    return await payload_of(AuthPayload, sign_in)


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
    ) -> AuthPayload:  # type: ignore[valid-type]
        return await _signed_in(
            members.sign_up(
                email=email,
                password=password,
                display_name=display_name,
                birthday=birthday,
                timezone=timezone,
                marketing_consent=marketing_consent,
            ),
            info,
        )

    @strawberry.mutation(description="Exchange an email and password for an access token.")
    async def log_in(self, info: Info, email: str, password: str) -> AuthPayload:  # type: ignore[valid-type]
        return await _signed_in(members.authenticate(email=email, password=password), info)

    @strawberry.mutation(permission_classes=[IsPerson], description="Change your own profile.")
    async def update_profile(
        self,
        info: Info,
        display_name: str | None = strawberry.UNSET,
        birthday: date | None = strawberry.UNSET,
        timezone: str | None = strawberry.UNSET,
        marketing_consent: bool | None = strawberry.UNSET,
        leaderboard_visible: bool | None = strawberry.UNSET,
    ) -> UpdateProfilePayload:  # type: ignore[valid-type]
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

        async def update() -> UpdateProfilePayload:  # type: ignore[valid-type]
            member = await members.update_profile(actor.id, changes)
            return UpdateProfilePayload(member=MemberType.from_model(member))

        return await payload_of(UpdateProfilePayload, update)
