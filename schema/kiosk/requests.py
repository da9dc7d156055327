"""Kiosk asks, member confirms: `requestRedemption` (kiosk), `redemptionRequests` (the member's
app), `respondToRedemptionRequest` (the member), `redemptionRequestStatus` (the kiosk). See
`channels.redemption_requests`."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import strawberry

from channels import redemption_requests as requests
from gamification.causes.models import Donation
from gamification.errors import ErrorCode, NotFound
from gamification.events.realtime import Topic, member_channel, request_channel
from gamification.rewards.models import Redemption
from schema.causes.types import DonationType
from schema.context import Info
from schema.errors import UserError
from schema.payloads import payload_of, payload_type
from schema.permissions import IsDevice, IsPerson
from schema.realtime.subscriptions import feed_of, member_of
from schema.relay import pk_of, to_global_id
from schema.rewards.types import RedemptionType

RedemptionRequestStatus = strawberry.enum(
    requests.RequestStatus,
    name="RedemptionRequestStatus",
    description="PENDING until the member answers; APPROVING while the approved redemption is "
    "made; then APPROVED (with the redemption), DECLINED, EXPIRED (no answer in time) or "
    "FAILED (approved, but refused: too few points, out of stock …; see `error`).",
)


@strawberry.enum(description="The member's answer to a kiosk's request.")
class RedemptionAnswer(enum.Enum):
    APPROVE = "APPROVE"
    DECLINE = "DECLINE"


@strawberry.type(
    name="RedemptionRequest",
    description="A kiosk's request that a member redeem a reward or an amount of points, or "
    "donate an amount of points to a cause (`causeId` set).",
)
class RedemptionRequestType:
    id: strawberry.ID
    status: RedemptionRequestStatus  # type: ignore[valid-type]
    version: int = strawberry.field(description="+1 with every change of status.")
    reward_id: strawberry.ID | None
    reward_name: str | None
    points: int = strawberry.field(
        description="The reward's cost, or the points asked for (to redeem or to donate)."
    )
    cause_id: strawberry.ID | None = strawberry.field(
        description="The cause a donation request is for; null for a redemption."
    )
    cause_name: str | None
    reference: str = strawberry.field(description="The kiosk's own reference.")
    store_id: strawberry.ID
    created_at: datetime
    expires_at: datetime = strawberry.field(description="The member must answer before this.")
    error: UserError | None = strawberry.field(description="Why an approved request FAILED.")
    redemption_pk: strawberry.Private[int | None]
    donation_pk: strawberry.Private[int | None]

    @strawberry.field(description="The redemption, once APPROVED.")
    async def redemption(self) -> RedemptionType | None:
        if self.redemption_pk is None:
            return None
        found = await Redemption.get_or_none(id=self.redemption_pk)
        return await RedemptionType.load(found) if found else None

    @strawberry.field(description="The donation, once a donation request is APPROVED.")
    async def donation(self) -> DonationType | None:
        if self.donation_pk is None:
            return None
        found = await Donation.get_or_none(id=self.donation_pk).prefetch_related("cause")
        return await DonationType.load(found) if found else None

    @classmethod
    def of(cls, request: requests.RedemptionRequest) -> RedemptionRequestType:
        error = None
        if request.error_code:
            error = UserError(
                code=ErrorCode(request.error_code), message=request.error_message or ""
            )
        return cls(
            id=strawberry.ID(request.id),
            status=request.status,
            version=request.version,
            reward_id=to_global_id("Reward", request.reward_id) if request.reward_id else None,
            reward_name=request.reward_name or None,
            points=request.points,
            cause_id=to_global_id("Cause", request.cause_id) if request.cause_id else None,
            cause_name=request.cause_name or None,
            reference=request.reference,
            store_id=to_global_id("Store", request.store_id),
            created_at=request.created_at,
            expires_at=request.expires_at,
            error=error,
            redemption_pk=request.redemption_id,
            donation_pk=request.donation_id,
        )


RedemptionRequestPayload = payload_type(
    "RedemptionRequestPayload", request=RedemptionRequestType, replayed=True
)


async def _asked(
    info: Info,
    ask: Callable[..., Awaitable[tuple[requests.RedemptionRequest, bool]]],
    by: tuple[str, str | None, strawberry.ID | None],
    what: Callable[[], dict[str, Any]],
) -> RedemptionRequestPayload:  # type: ignore[valid-type]
    """The calling kiosk's request, made by `ask`, under its reference to the member it names
    by card or ID (`by`); `what` gives what is asked for (read in the use case, so that a
    malformed ID is a payload error)."""
    actor = info.context.require_actor()
    reference, card_number, member_id = by

    async def asked() -> RedemptionRequestPayload:  # type: ignore[valid-type]
        request, replayed = await ask(
            redis=info.context.redis,
            actor=actor,
            card_number=card_number,
            member_id=pk_of(member_id, "Member", field="memberId") if member_id else None,
            reference=reference,
            settings=info.context.settings,
            **what(),
        )
        return RedemptionRequestPayload(
            request=RedemptionRequestType.of(request), replayed=replayed
        )

    return await payload_of(RedemptionRequestPayload, asked)


@strawberry.type
class RedemptionRequestMutations:
    @strawberry.mutation(
        permission_classes=[IsDevice],
        description="A kiosk asks a member, named by `cardNumber` or `memberId`, to approve "
        "redeeming `rewardId` or `points` in their app. `reference` is the kiosk's own: "
        "the same reference returns the first request. Watch `redemptionRequestStatus`.",
    )
    async def request_redemption(
        self,
        info: Info,
        reference: str,
        card_number: str | None = None,
        member_id: strawberry.ID | None = None,
        reward_id: strawberry.ID | None = None,
        points: int | None = None,
    ) -> RedemptionRequestPayload:  # type: ignore[valid-type]
        return await _asked(
            info,
            requests.request_redemption,
            (reference, card_number, member_id),
            lambda: {
                "reward_id": pk_of(reward_id, "Reward", field="rewardId") if reward_id else None,
                "points": points,
            },
        )

    @strawberry.mutation(
        permission_classes=[IsDevice],
        description="A kiosk asks a member, named by `cardNumber` or `memberId`, to approve "
        "donating `points` to `causeId` in their app; nothing moves until they approve. "
        "`reference` is the kiosk's own: the same reference returns the first request. Watch "
        "`redemptionRequestStatus`.",
    )
    async def request_donation(
        self,
        info: Info,
        reference: str,
        cause_id: strawberry.ID,
        points: int,
        card_number: str | None = None,
        member_id: strawberry.ID | None = None,
    ) -> RedemptionRequestPayload:  # type: ignore[valid-type]
        return await _asked(
            info,
            requests.request_donation,
            (reference, card_number, member_id),
            lambda: {"cause_id": pk_of(cause_id, "Cause", field="causeId"), "points": points},
        )

    @strawberry.mutation(
        permission_classes=[IsPerson],
        description="Approve or decline a kiosk's request (yours only). Approving redeems or "
        "donates exactly once, however often it is repeated.",
    )
    async def respond_to_redemption_request(
        self, info: Info, request_id: strawberry.ID, answer: RedemptionAnswer
    ) -> RedemptionRequestPayload:  # type: ignore[valid-type]
        actor = info.context.require_person()

        async def respond() -> RedemptionRequestPayload:  # type: ignore[valid-type]
            request = await requests.respond(
                redis=info.context.redis,
                actor=actor,
                request_id=str(request_id),
                approve=answer is RedemptionAnswer.APPROVE,
            )
            return RedemptionRequestPayload(request=RedemptionRequestType.of(request))

        return await payload_of(RedemptionRequestPayload, respond)


@strawberry.type
class RedemptionRequestSubscriptions:
    @strawberry.subscription(
        description="Kiosks' requests to you: those pending now, then every new request and "
        "change of status. Members only: the stream is the signed-in member's own."
    )
    async def redemption_requests(self, info: Info) -> AsyncGenerator[RedemptionRequestType, None]:
        actor = member_of(info)
        redis = info.context.redis
        async with feed_of(info).subscribe(member_channel(actor.id)) as notices:
            for pending in await requests.pending_requests(redis, actor.id):
                yield RedemptionRequestType.of(pending)
            async for notice in notices:
                if notice.topic is Topic.REDEMPTION_REQUEST:
                    yield RedemptionRequestType.of(requests.RedemptionRequest.decode(notice.data))

    @strawberry.subscription(
        description="The status of a request this kiosk made: now, then every change, until "
        "it is APPROVED, DECLINED, EXPIRED or FAILED (then the subscription completes)."
    )
    async def redemption_request_status(
        self, info: Info, request_id: strawberry.ID
    ) -> AsyncGenerator[RedemptionRequestType, None]:
        actor = info.context.require_actor()
        redis = info.context.redis
        found = await requests.get_request(redis, str(request_id))
        if found is None or not actor.is_device or found.device_id != actor.id:
            raise NotFound("No such request", code=ErrorCode.REQUEST_NOT_FOUND, field="requestId")
        async with feed_of(info).subscribe(request_channel(found.id)) as notices:
            current = await requests.get_request(redis, found.id) or found
            yield RedemptionRequestType.of(current)
            while not current.status.final:
                # Until the deadline; once approved, until the redemption is recorded.
                wait: float | None = (current.expires_at - datetime.now(UTC)).total_seconds()
                if current.status is requests.RequestStatus.APPROVING:
                    wait = None
                try:
                    async with asyncio.timeout(None if wait is None else max(wait, 0)):
                        notice = await anext(notices)
                    changed = requests.RedemptionRequest.decode(notice.data)
                except TimeoutError:
                    # The deadline passed: expire it, unless an answer got there first.
                    changed = await requests.expire_if_due(redis, found.id)
                if changed.version > current.version:
                    current = changed
                    yield RedemptionRequestType.of(current)
