"""Kiosk requests checked directly: the state machine in Redis, its one outcome under races,
and a redemption made exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from channels import redemption_requests as requests
from gamification.errors import LoyaltyError
from gamification.ledger import points
from gamification.rewards.models import Redemption
from server.settings import Settings
from tests.factories import actor_of, create_device, create_member, credit_points

RequestStatus = requests.RequestStatus


async def _ask(
    redis: Redis, settings: Settings, *, points_asked: int = 10, reference: str = "sale-1"
) -> tuple[requests.RedemptionRequest, object]:
    member = await create_member()
    await credit_points(member=member, points=1000)
    kiosk = await create_device()
    request, _ = await requests.request_redemption(
        redis=redis,
        actor=actor_of(kiosk),
        card_number=member.card_number,
        member_id=None,
        reward_id=None,
        points=points_asked,
        reference=reference,
        settings=settings,
    )
    return request, member


async def test_an_approval_and_the_expiry_at_the_deadline_agree_on_one_outcome(
    redis: Redis, settings: Settings
) -> None:
    for _ in range(20):
        # given: a request at its deadline
        request, member = await _ask(redis, settings)
        deadline = request.expires_at

        # when: the member approves a hair before it, while the kiosk expires it at it
        async def approve(
            req: requests.RedemptionRequest = request,
            who: object = member,
            at: datetime = deadline - timedelta(milliseconds=1),
        ) -> RequestStatus | str:
            try:
                done = await requests.respond(
                    redis=redis,
                    actor=actor_of(who),  # type: ignore[arg-type]
                    request_id=req.id,
                    approve=True,
                    now=at,
                )
            except LoyaltyError as error:
                return str(error.code)
            return done.status

        approved, expired = await asyncio.gather(
            approve(), requests.expire_if_due(redis, request.id, now=deadline)
        )

        # then: the stored outcome is the one both sides report, and the books match it
        stored = await requests.get_request(redis, request.id)
        assert stored is not None
        assert stored.status in (RequestStatus.APPROVED, RequestStatus.EXPIRED)
        assert approved == (
            "REQUEST_EXPIRED" if stored.status is RequestStatus.EXPIRED else stored.status
        )
        assert expired.status in (stored.status, RequestStatus.APPROVING)
        made = await Redemption.filter(member_id=member.id).count()  # type: ignore[attr-defined]
        assert made == (1 if stored.status is RequestStatus.APPROVED else 0)
        assert stored.redemption_id == (
            (await Redemption.get(member_id=member.id)).id if made else None  # type: ignore[attr-defined]
        )


async def test_repeated_approvals_redeem_once(redis: Redis, settings: Settings) -> None:
    request, member = await _ask(redis, settings, points_asked=30)

    answers = await asyncio.gather(
        *(
            requests.respond(
                redis=redis,
                actor=actor_of(member),  # type: ignore[arg-type]
                request_id=request.id,
                approve=True,
            )
            for _ in range(5)
        ),
        return_exceptions=True,
    )

    done = [a for a in answers if isinstance(a, requests.RedemptionRequest)]
    assert done
    assert all(a.status is RequestStatus.APPROVED for a in done)
    assert len({a.redemption_id for a in done}) == 1
    assert await Redemption.filter(member_id=member.id).count() == 1  # type: ignore[attr-defined]
    assert (await points.summary(member.id)).balance == 970  # type: ignore[attr-defined]


async def test_an_approval_the_core_refuses_fails_with_its_code(
    redis: Redis, settings: Settings
) -> None:
    request, member = await _ask(redis, settings, points_asked=5000)

    done = await requests.respond(
        redis=redis,
        actor=actor_of(member),  # type: ignore[arg-type]
        request_id=request.id,
        approve=True,
    )

    assert (done.status, done.error_code) == (RequestStatus.FAILED, "INSUFFICIENT_POINTS")
    assert (await points.summary(member.id)).balance == 1000  # type: ignore[attr-defined]


@pytest.mark.parametrize("request_id", ["", "x", "0" * 32 + "0", "../rr:1", "ZZ" * 16])
async def test_ids_that_are_not_requests_are_not_found(redis: Redis, request_id: str) -> None:
    assert await requests.get_request(redis, request_id) is None


async def test_only_kiosks_ask(redis: Redis, settings: Settings) -> None:
    member = await create_member()
    with pytest.raises(LoyaltyError) as refused:
        await requests.request_redemption(
            redis=redis,
            actor=actor_of(member),
            card_number=member.card_number,
            member_id=None,
            reward_id=None,
            points=10,
            reference="r",
            settings=settings,
            now=datetime.now(UTC),
        )
    assert refused.value.code == "CHANNEL_MISMATCH"
