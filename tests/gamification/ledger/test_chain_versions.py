"""The hash chain's two canonical forms: version 1 hashed the free-text reason, version 2 a
salted digest of it (so that erasure may blank the reason). Migration 0010 re-chains
version 1 accounts that verify, and leaves broken ones for verify-ledger to name."""

from __future__ import annotations

import importlib

from tortoise import connections

from gamification.causes.models import Donation
from gamification.ledger import entries
from gamification.ledger.entries import GENESIS_HASH, entry_content, entry_hash
from gamification.ledger.models import LedgerAccount, LedgerEntry
from tests.factories import create_cause, create_member, credit_points, donate

_migration = importlib.import_module("gamification.migrations.0010_privacy")


class _Editor:
    def __init__(self) -> None:
        self.client = connections.get("default")


async def _as_version_1(account_id: int) -> None:
    """Rewrite the account's chain as the code before version 2 wrote it."""
    prev = GENESIS_HASH
    for entry in await LedgerEntry.filter(account_id=account_id).order_by("seq"):
        entry.chain_version = 1
        entry.reason_salt = entry.reason_digest = ""
        entry.prev_hash = prev
        entry.hash = entry_hash(prev, entry_content(entry))
        await entry.save()
        await Donation.filter(entry_id=entry.id).update(entry_hash=entry.hash)
        prev = entry.hash
    await LedgerAccount.filter(id=account_id).update(head_hash=prev)


async def _account(member_id: int) -> LedgerAccount:
    return await LedgerAccount.get(member_id=member_id)


async def test_new_entries_are_version_2_and_their_hash_leaves_the_reason_out() -> None:
    # given
    member = await create_member()
    await credit_points(member=member, points=100)
    entry = await LedgerEntry.filter(account__member_id=member.id).first()
    assert entry is not None

    # then
    assert entry.chain_version == 2
    assert "reason" not in entry_content(entry)
    assert entry.reason_digest == entries.reason_digest(entry.reason_salt, entry.reason)
    assert (await entries.verify_account_chain(entry.account_id)).ok  # type: ignore[attr-defined]


async def test_a_blanked_reason_and_salt_still_verify_but_an_edited_reason_does_not() -> None:
    # given
    member = await create_member()
    await credit_points(member=member, points=100)
    account = await _account(member.id)
    entry = await LedgerEntry.get(account_id=account.id, seq=1)

    # when: edited
    await LedgerEntry.filter(id=entry.id).update(reason="someone else")
    # then
    check = await entries.verify_account_chain(account.id)
    assert (check.ok, check.first_broken_entry_id, check.problem) == (
        False,
        entry.id,
        "edited reason",
    )

    # when: erased (reason and salt blank)
    await LedgerEntry.filter(id=entry.id).update(reason="", reason_salt="")
    # then
    assert (await entries.verify_account_chain(account.id)).ok


async def test_version_1_chains_verify_and_the_migration_re_chains_them_under_version_2() -> None:
    # given: two members' chains written by the old code, one of them tampered with since
    member, tampered = await create_member(), await create_member()
    cause = await create_cause(points_per_unit=10)
    for who in (member, tampered):
        await credit_points(member=who, points=500)
        await donate(member=who, cause=cause, points=50)
        await _as_version_1((await _account(who.id)).id)
    good, bad = await _account(member.id), await _account(tampered.id)
    assert (await entries.verify_account_chain(good.id)).ok
    await LedgerEntry.filter(account_id=bad.id, seq=1).update(points=501)

    # when
    await _migration.rechain(None, _Editor())

    # then: the good chain is version 2 and verifies; its donation receipt names the new hash
    assert (await entries.verify_account_chain(good.id)).ok
    rows = await LedgerEntry.filter(account_id=good.id).order_by("seq")
    assert {row.chain_version for row in rows} == {2}
    assert all(row.reason_salt for row in rows)
    donation = await Donation.get(member_id=member.id)
    assert donation.entry_hash == next(r.hash for r in rows if r.id == donation.entry_id)
    assert (await LedgerAccount.get(id=good.id)).head_hash == rows[-1].hash
    # the tampered one stays version 1 and broken, named by the check
    check = await entries.verify_account_chain(bad.id)
    assert not check.ok
    assert {r.chain_version for r in await LedgerEntry.filter(account_id=bad.id)} == {1}


async def test_re_chaining_twice_changes_nothing() -> None:
    # given
    member = await create_member()
    await credit_points(member=member, points=100)
    account = await _account(member.id)
    await _as_version_1(account.id)
    await _migration.rechain(None, _Editor())
    before = await LedgerEntry.filter(account_id=account.id).values_list("hash", flat=True)

    # when
    await _migration.rechain(None, _Editor())

    # then
    after = await LedgerEntry.filter(account_id=account.id).values_list("hash", flat=True)
    assert before == after
