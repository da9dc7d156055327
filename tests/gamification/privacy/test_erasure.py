"""Erasing a member: nothing that names them is left in any table or Redis key, the ledger
still verifies, the program's totals move by the forfeiture only, and erasing is idempotent
and refused to anyone but the member and admins."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

from channels import redemption_requests
from channels.credentials import InvalidCredential, authenticate_bearer
from gamification import redis_keys
from gamification.actors import Actor, ActorKind
from gamification.errors import ErrorCode, NotFound, Refused
from gamification.ledger import points
from gamification.ledger.accounts import program_account_id
from gamification.ledger.entries import derived_balances
from gamification.ledger.models import EntryKind, LedgerAccount, LedgerEntry
from gamification.members.models import Member, RetiredCardNumber, Role
from gamification.privacy import consents, erasure, export
from gamification.privacy.models import ConsentChannel, ConsentKind
from gamification.rewards.models import HoldStatus, PointsHold
from gamification.stores.models import Channel
from server.settings import Settings
from tests.factories import (
    actor_of,
    create_device,
    create_earn_rule,
    create_member,
    create_purchase,
    member_token,
)
from tests.gamification.privacy.helpers import (
    busy_member,
    every_text_in_redis,
    every_text_in_the_database,
)


def _admin(admin_id: int) -> Actor:
    return Actor(kind=ActorKind.ADMIN, id=admin_id)


async def _erase(
    redis: Redis, actor: Actor, member_id: int, reason: str = ""
) -> erasure.ErasureResult:
    """As the API and the CLI do it: the erasure, then Redis after commit."""
    result = await erasure.erase_member(actor=actor, member_id=member_id, reason=reason)
    await redemption_requests.forget_member(redis, member_id)
    await erasure.forget_cached_views(redis, member_id)
    return result


async def test_nothing_names_the_member_after_erasure_and_the_ledger_verifies(
    redis: Redis, settings: Settings
) -> None:
    # given: two busy members, one erased in the middle of their activity
    member, secrets = await busy_member(redis, settings, n=11)
    bystander, _ = await busy_member(redis, settings, n=12)
    program = await program_account_id()
    before = await derived_balances()
    balance = (await points.summary(member.id)).balance
    assert [s for t in await every_text_in_the_database() for s in secrets.found_in(t[2])]
    # a kept home screen (server.response_cache), as the app's last read left it
    kept = f'{{"me":{{"displayName":"{secrets.name}","cardNumber":"{secrets.card_number}"}}}}'
    await redis.set(redis_keys.home_response(member.id, "f" * 64), kept)
    await redis.set(redis_keys.member_view_version(member.id), "v1")

    # when
    result = await _erase(redis, actor_of(member), member.id)

    # then: no table, no Redis key or value holds the email, name, card number or birthday
    leaks = [
        (table, column, found)
        for table, column, text in await every_text_in_the_database()
        for found in secrets.found_in(text)
    ]
    assert not leaks, leaks
    redis_leaks = [
        (t, secrets.found_in(t)) for t in await every_text_in_redis(redis) if secrets.found_in(t)
    ]
    assert not redis_leaks, redis_leaks
    # every chain verifies, the erased member's and the bystander's
    assert await points.verify_all() == []
    # the books: only the member's account and the program's moved, by the forfeiture
    after = await derived_balances()
    account = await LedgerAccount.get(member_id=member.id)
    assert result.record.forfeited_points == balance
    assert after[account.id] == 0
    assert after[program] == before[program] + balance
    assert {k: v for k, v in after.items() if k not in (account.id, program)} == {
        k: v for k, v in before.items() if k not in (account.id, program)
    }
    forfeits = await LedgerEntry.filter(account_id=account.id, kind=EntryKind.FORFEIT)
    assert [e.points for e in forfeits] == [-balance]
    # holds released, card retired, the row kept but anonymised
    assert not await PointsHold.filter(member_id=member.id, status=HoldStatus.ACTIVE).exists()
    assert await RetiredCardNumber.filter(digest=erasure.card_digest(secrets.card_number)).exists()
    erased = await Member.get(id=member.id)
    assert erased.erased_at is not None
    assert erased.password_hash is None
    assert await points.summary(bystander.id)


async def test_erasing_twice_is_a_no_op_that_returns_the_first_erasure(
    redis: Redis, settings: Settings
) -> None:
    # given
    member, _ = await busy_member(redis, settings, n=13)
    first = await _erase(redis, actor_of(member), member.id)
    entries = await LedgerEntry.all().count()

    # when
    again = await erasure.erase_member(actor=actor_of(member), member_id=member.id)

    # then
    assert again.already_erased
    assert again.record.id == first.record.id
    assert await LedgerEntry.all().count() == entries
    assert await points.verify_all() == []


async def test_another_member_a_device_and_staff_are_refused_and_admins_need_a_reason(
    redis: Redis, settings: Settings
) -> None:
    # given
    member = await create_member()
    other = await create_member()
    staff = await create_member(role=Role.STAFF)
    admin = await create_member(role=Role.ADMIN)
    kiosk = await create_device(channel=Channel.KIOSK)

    # then
    for actor, code in (
        (actor_of(other), ErrorCode.ERASURE_REFUSED),
        (actor_of(staff), ErrorCode.ERASURE_REFUSED),
        (actor_of(kiosk), ErrorCode.ERASURE_REFUSED),
        (_admin(admin.id), ErrorCode.REASON_REQUIRED),
    ):
        with pytest.raises(Refused) as refused:
            await erasure.erase_member(actor=actor, member_id=member.id)
        assert refused.value.code is code
    with pytest.raises(Refused) as refused:
        await erasure.erase_member(actor=_admin(admin.id), member_id=staff.id, reason="left")
    assert refused.value.code is ErrorCode.ERASURE_REFUSED
    assert not await erasure.is_erased(member.id)


async def test_an_admin_erases_with_a_reason_and_the_member_s_token_stops_working(
    redis: Redis, settings: Settings
) -> None:
    # given
    member = await create_member()
    admin = await create_member(role=Role.ADMIN)
    token = member_token(member, settings)
    assert (await authenticate_bearer(token, settings)).id == member.id

    # when
    result = await _erase(redis, _admin(admin.id), member.id, reason="asked at the desk")

    # then
    assert (result.record.requested_by, result.record.admin_id) == ("admin", admin.id)
    with pytest.raises(InvalidCredential):
        await authenticate_bearer(token, settings)


async def test_pending_kiosk_requests_are_declined_and_consents_withdrawn(
    redis: Redis, settings: Settings
) -> None:
    # given
    member, _ = await busy_member(redis, settings, n=14)
    pending = await redemption_requests.pending_requests(redis, member.id)
    assert len(pending) == 1
    assert await consents.may_contact(member.id, ConsentKind.MARKETING, ConsentChannel.EMAIL)

    # when
    await erasure.erase_member(actor=actor_of(member), member_id=member.id)
    declined = await redemption_requests.forget_member(redis, member.id)

    # then
    assert declined == 1
    assert await redemption_requests.pending_requests(redis, member.id) == []
    assert not await consents.may_contact(member.id, ConsentKind.MARKETING, ConsentChannel.EMAIL)


async def test_an_erased_member_s_export_says_so_and_names_nobody(
    redis: Redis, settings: Settings
) -> None:
    # given
    member, secrets = await busy_member(redis, settings, n=15)
    await _erase(redis, actor_of(member), member.id)

    # when
    text = "".join([chunk async for chunk in export.export_chunks(member.id)])

    # then
    assert json.loads(text)["erased"] is True
    assert not secrets.found_in(text)


async def test_nothing_is_credited_to_an_erased_member_afterwards(
    redis: Redis, settings: Settings
) -> None:
    # given
    member = await create_member()
    till = await create_device(channel=Channel.POS)
    await create_earn_rule()
    await erasure.erase_member(actor=actor_of(member), member_id=member.id)

    # when / then: a purchase by member id (a till that still knew it) is refused
    with pytest.raises(NotFound) as refused:
        await create_purchase(member=member, recorded_by=till)
    assert refused.value.code is ErrorCode.MEMBER_ERASED
    assert (await points.summary(member.id)).balance == 0
