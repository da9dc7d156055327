"""`loyalty export-member`, `loyalty erase-member` and `loyalty purge` (docs/privacy.md)."""

from __future__ import annotations

import json
from pathlib import Path

from redis.asyncio import Redis

from gamification.ledger.models import EntryKind, LedgerEntry
from gamification.members.models import Member, Role
from gamification.privacy import export
from server.settings import Settings
from tests.factories import create_member
from tests.gamification.privacy.helpers import busy_member
from tests.server.helpers import loyalty_command as _loyalty


async def test_export_member_writes_the_whole_document_to_a_file(
    service_env: dict[str, str], redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    # given
    member, secrets = await busy_member(redis, settings, n=31)
    output = tmp_path / "export.json"

    # when
    result = await _loyalty(
        service_env, "export-member", "--member", secrets.email, "--output", str(output)
    )

    # then
    assert result.returncode == 0, result.stderr
    written = json.loads(output.read_text())
    expected = await export.export_document(member.id, max_rows=10**6)
    assert written["tables"] == expected["tables"]


async def test_export_member_of_nobody_exits_1(service_env: dict[str, str]) -> None:
    result = await _loyalty(service_env, "export-member", "--member", "nobody@example.com")
    assert result.returncode == 1
    assert "No such member" in result.stderr


async def test_erase_member_erases_once_and_the_ledger_verifies(
    service_env: dict[str, str], redis: Redis, settings: Settings
) -> None:
    # given: two busy members
    member, secrets = await busy_member(redis, settings, n=32)
    await busy_member(redis, settings, n=33)

    # when
    first = await _loyalty(
        service_env, "erase-member", "--member", str(member.id), "--reason", "asked by letter"
    )
    again = await _loyalty(
        service_env, "erase-member", "--member", str(member.id), "--reason", "asked by letter"
    )
    verified = await _loyalty(service_env, "verify-ledger")

    # then
    assert first.returncode == 0, first.stderr
    assert f"Erased member {member.id}" in first.stdout
    assert again.returncode == 0, again.stderr
    assert "erased already" in again.stdout
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert (await Member.get(id=member.id)).email != secrets.email
    forfeits = LedgerEntry.filter(account__member_id=member.id, kind=EntryKind.FORFEIT)
    assert await forfeits.count() == 1


async def test_erase_member_refuses_staff_and_needs_a_reason(service_env: dict[str, str]) -> None:
    staff = await create_member(role=Role.STAFF)
    refused = await _loyalty(
        service_env, "erase-member", "--member", str(staff.id), "--reason", "left"
    )
    assert refused.returncode == 1
    assert "Refused" in refused.stderr
    missing = await _loyalty(service_env, "erase-member", "--member", str(staff.id))
    assert missing.returncode == 2


async def test_purge_says_what_it_deleted(service_env: dict[str, str]) -> None:
    result = await _loyalty(service_env, "purge")
    assert result.returncode == 0, result.stderr
    assert "redemption_tokens: 0 deleted" in result.stdout
