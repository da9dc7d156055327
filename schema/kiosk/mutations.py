"""Kiosk and till mutations: the member's app shows a one-time QR token; a kiosk redeems it,
a till holds points with it, then captures or releases the hold. Every mutation that moves
points takes an `idempotencyKey`; a retry with the same key returns the first answer."""

from __future__ import annotations

from datetime import datetime

import strawberry

from channels import tokens
from gamification.rewards import holds
from gamification.rewards.models import PointsHold
from schema.causes.mutations import DonatePointsPayload, donation_payload
from schema.context import Info
from schema.errors import UserError
from schema.kiosk.types import PointsHoldType
from schema.payloads import payload_of, payload_type
from schema.permissions import IsDevice, IsPerson
from schema.relay import pk_of
from schema.rewards.types import RedemptionType


@strawberry.type
class CreateRedemptionTokenPayload:
    token: str | None = strawberry.field(
        default=None,
        description="The one-time token, for kiosks and tills to scan: about 54 characters "
        "(`1.<id>.<expiry>.<signature>`; URL-safe letters, digits, `-`, `_` and `.`). "
        "Treat it as opaque.",
    )
    expires_at: datetime | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)

    @strawberry.field(
        description="The token as a QR code (a small one, version 4): an SVG image in a "
        "`data:image/svg+xml` URL. Made only when selected: apps that draw the QR code "
        "themselves from `token` need not ask for it."
    )
    def qr_code(self) -> str | None:
        return tokens.qr_data_url(self.token) if self.token else None


RedeemWithTokenPayload = payload_type(
    "RedeemWithTokenPayload", redemption=RedemptionType, replayed=True
)
PointsHoldPayload = payload_type("PointsHoldPayload", hold=PointsHoldType, replayed=True)


def _hold_pk(hold_id: strawberry.ID) -> int:
    return pk_of(hold_id, "PointsHold", field="holdId")


def _hold_payload(result: tuple[PointsHold, bool]) -> PointsHoldPayload:  # type: ignore[valid-type]
    hold, replayed = result
    return PointsHoldPayload(hold=PointsHoldType.from_model(hold), replayed=replayed)


@strawberry.type
class KioskMutations:
    @strawberry.mutation(
        permission_classes=[IsPerson],
        description="A one-time code (and its QR image) that lets a store device move your "
        "points once, for one purpose: `rewardId` (a kiosk redeems that reward), `points` (a "
        "kiosk redeems that amount, or a till holds up to it), or `causeId` with `points` (a "
        "kiosk donates them to that cause, `donateWithToken`). It expires after a short while; "
        "presented for another purpose it is refused (TOKEN_WRONG_PURPOSE).",
    )
    async def create_redemption_token(
        self,
        info: Info,
        reward_id: strawberry.ID | None = None,
        points: int | None = None,
        cause_id: strawberry.ID | None = None,
    ) -> CreateRedemptionTokenPayload:
        actor = info.context.require_person()

        async def create() -> CreateRedemptionTokenPayload:
            issued = await tokens.create_redemption_token(
                actor=actor,
                reward_id=pk_of(reward_id, "Reward", field="rewardId") if reward_id else None,
                points=points,
                cause_id=pk_of(cause_id, "Cause", field="causeId") if cause_id else None,
                settings=info.context.settings,
            )
            return CreateRedemptionTokenPayload(token=issued.token, expires_at=issued.expires_at)

        return await payload_of(CreateRedemptionTokenPayload, create)

    @strawberry.mutation(
        permission_classes=[IsDevice],
        description="A kiosk redeems what a member's code names. Each code works once.",
    )
    async def redeem_with_token(
        self, info: Info, token: str, idempotency_key: str
    ) -> RedeemWithTokenPayload:  # type: ignore[valid-type]
        actor = info.context.require_actor()

        async def redeem() -> RedeemWithTokenPayload:  # type: ignore[valid-type]
            redemption, replayed = await tokens.redeem_with_token(
                actor=actor,
                token=token,
                idempotency_key=idempotency_key,
                settings=info.context.settings,
            )
            return RedeemWithTokenPayload(
                redemption=await RedemptionType.load(redemption), replayed=replayed
            )

        return await payload_of(RedeemWithTokenPayload, redeem)

    @strawberry.mutation(
        permission_classes=[IsDevice],
        description="A kiosk donates what a member's donation code names (the cause and the "
        "points, from `createRedemptionToken(causeId, points)`). Each code works once.",
    )
    async def donate_with_token(
        self, info: Info, token: str, idempotency_key: str
    ) -> DonatePointsPayload:
        actor = info.context.require_actor()

        async def donate() -> DonatePointsPayload:
            return await donation_payload(
                await tokens.donate_with_token(
                    actor=actor,
                    token=token,
                    idempotency_key=idempotency_key,
                    settings=info.context.settings,
                )
            )

        return await payload_of(DonatePointsPayload, donate)

    @strawberry.mutation(
        permission_classes=[IsDevice],
        description="A till or kiosk holds up to the points a member's code authorises (the "
        "code is used up) for `ttlSeconds`; capture or release the hold before then.",
    )
    async def hold_points(
        self,
        info: Info,
        token: str,
        points: int,
        reference: str,
        ttl_seconds: int,
        idempotency_key: str,
    ) -> PointsHoldPayload:  # type: ignore[valid-type]
        actor = info.context.require_actor()

        async def hold() -> PointsHoldPayload:  # type: ignore[valid-type]
            return _hold_payload(
                await tokens.hold_points_with_token(
                    actor=actor,
                    token=token,
                    points=points,
                    reference=reference,
                    ttl_seconds=ttl_seconds,
                    idempotency_key=idempotency_key,
                    settings=info.context.settings,
                )
            )

        return await payload_of(PointsHoldPayload, hold)

    @strawberry.mutation(
        permission_classes=[IsDevice],
        description="Spend `points` (at most the held amount) of an active hold of this "
        "store; the rest is released.",
    )
    async def capture_hold(
        self, info: Info, hold_id: strawberry.ID, points: int, idempotency_key: str
    ) -> PointsHoldPayload:  # type: ignore[valid-type]
        actor = info.context.require_actor()

        async def capture() -> PointsHoldPayload:  # type: ignore[valid-type]
            return _hold_payload(
                await holds.capture_hold(
                    actor=actor,
                    hold_id=_hold_pk(hold_id),
                    points=points,
                    idempotency_key=idempotency_key,
                )
            )

        return await payload_of(PointsHoldPayload, capture)

    @strawberry.mutation(
        permission_classes=[IsDevice],
        description="Give an active hold's points back to the member.",
    )
    async def release_hold(
        self, info: Info, hold_id: strawberry.ID, idempotency_key: str
    ) -> PointsHoldPayload:  # type: ignore[valid-type]
        actor = info.context.require_actor()

        async def release() -> PointsHoldPayload:  # type: ignore[valid-type]
            return _hold_payload(
                await holds.release_hold(
                    actor=actor, hold_id=_hold_pk(hold_id), idempotency_key=idempotency_key
                )
            )

        return await payload_of(PointsHoldPayload, release)
