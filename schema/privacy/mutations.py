"""Privacy mutations: consents, the member's data export, erasure (docs/privacy.md).

Erasure's Redis state (pending kiosk requests) is cleared here once the erasure committed; the
forfeiture's leaderboard update runs after commit like any ledger entry's
(`schema.leaderboards.extension`)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import strawberry
from redis.exceptions import RedisError

from channels import redemption_requests
from channels.credentials import InvalidCredential, bearer_token, decode_token
from gamification.errors import LoyaltyError
from gamification.privacy import consents, erasure, export
from gamification.privacy import models as privacy_models
from gamification.stores.models import Channel
from schema.context import Info
from schema.payloads import payload_of, payload_type
from schema.permissions import IsAdmin, IsPerson
from schema.privacy.types import (
    ConsentChannel,
    ConsentKind,
    ConsentRecordType,
    ErasureType,
    MemberExportType,
)
from schema.relay import pk_of

logger = logging.getLogger("loyalty.privacy")

SetConsentPayload = payload_type("SetConsentPayload", consent=ConsentRecordType)
ExportPayload = payload_type("ExportPayload", export=MemberExportType)
ErasurePayload = payload_type("ErasurePayload", erasure=ErasureType)


async def _export(info: Info, member_id: int) -> object:
    max_rows = info.context.settings.export_max_rows
    document = await export.export_document(member_id, max_rows=max_rows)
    return ExportPayload(
        export=MemberExportType(
            document=document,  # type: ignore[arg-type]
            truncated=document["truncated"],
        )
    )


async def _erased(info: Info, result: erasure.ErasureResult) -> object:
    member_id: int = result.record.member_id  # type: ignore[attr-defined]
    try:
        await redemption_requests.forget_member(info.context.redis, member_id)
        await erasure.forget_cached_views(info.context.redis, member_id)
    except (RedisError, OSError, LoyaltyError):
        # The erasure committed; the requests expire in Redis by themselves within the hour,
        # the kept responses within LOYALTY_HOME_CACHE_SECONDS.
        logger.exception("could not clear an erased member's Redis state")
    record = result.record
    return ErasurePayload(
        erasure=ErasureType(
            erased_at=record.erased_at,
            forfeited_points=record.forfeited_points,
            released_holds=record.released_holds,
            already_erased=result.already_erased,
        )
    )


def _signed_in_at(info: Info) -> datetime | None:
    """When the request's bearer token was issued (its `iat`), or None without one."""
    headers = getattr(info.context.request, "headers", None)
    token = bearer_token(headers.get("authorization") if headers is not None else None)
    if token is None:
        return None
    try:
        claims = decode_token(token, info.context.settings)
    except InvalidCredential:
        return None
    issued = claims.get("iat")
    return datetime.fromtimestamp(issued, UTC) if isinstance(issued, int | float) else None


@strawberry.type
class PrivacyMutations:
    @strawberry.mutation(
        permission_classes=[IsPerson],
        description="Give or withdraw a consent, for the wording version the member was shown.",
    )
    async def set_consent(
        self,
        info: Info,
        kind: ConsentKind,  # type: ignore[valid-type]
        channel: ConsentChannel,  # type: ignore[valid-type]
        given: bool,
        text_version: str,
    ) -> SetConsentPayload:  # type: ignore[valid-type]
        actor = info.context.require_person()

        async def run() -> object:
            record = await consents.set_consent(
                member_id=actor.id,
                kind=privacy_models.ConsentKind(kind),
                channel=privacy_models.ConsentChannel(channel),
                given=given,
                text_version=text_version,
                source=Channel.APP,
            )
            return SetConsentPayload(consent=ConsentRecordType.from_model(record))

        return await payload_of(SetConsentPayload, run)

    @strawberry.mutation(
        permission_classes=[IsPerson],
        description="Everything held about you, as one JSON document (docs/privacy.md).",
    )
    async def request_my_data(self, info: Info) -> ExportPayload:  # type: ignore[valid-type]
        actor = info.context.require_person()
        return await payload_of(ExportPayload, lambda: _export(info, actor.id))

    @strawberry.mutation(
        permission_classes=[IsAdmin], description="Everything held about a member."
    )
    async def export_member(self, info: Info, member_id: strawberry.ID) -> ExportPayload:  # type: ignore[valid-type]
        async def run() -> object:
            return await _export(info, pk_of(member_id, "Member", field="memberId"))

        return await payload_of(ExportPayload, run)

    @strawberry.mutation(
        permission_classes=[IsPerson],
        description="Erase your account, re-entering your password (an account without one, "
        "signed in through an identity provider: within 5 minutes of signing in): your personal "
        "data is removed, your points are forfeited, you are signed out everywhere "
        "(docs/privacy.md).",
    )
    async def delete_my_account(self, info: Info, password: str | None = None) -> ErasurePayload:  # type: ignore[valid-type]
        actor = info.context.require_person()

        async def run() -> object:
            result = await erasure.delete_own_account(
                actor=actor, password=password, signed_in_at=_signed_in_at(info)
            )
            return await _erased(info, result)

        return await payload_of(ErasurePayload, run)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Erase a member (their points are forfeited), with the reason for the audit.",
    )
    async def erase_member(
        self, info: Info, member_id: strawberry.ID, reason: str
    ) -> ErasurePayload:  # type: ignore[valid-type]
        actor = info.context.require_person()

        async def run() -> object:
            member = pk_of(member_id, "Member", field="memberId")
            result = await erasure.erase_member(actor=actor, member_id=member, reason=reason)
            return await _erased(info, result)

        return await payload_of(ErasurePayload, run)
