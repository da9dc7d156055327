"""The export holds every row of every table that references the member, and nothing of
anyone else."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from gamification.privacy import export
from gamification.privacy.registry import TABLES, member_filter
from server.settings import Settings
from tests.gamification.privacy.helpers import busy_member


async def test_the_export_has_every_row_of_every_table_that_references_the_member(
    redis: Redis, settings: Settings
) -> None:
    # given: the member, and another busy member whose rows must stay out
    member, secrets = await busy_member(redis, settings, n=1)
    await busy_member(redis, settings, n=2)

    # when: streamed, as the CLI writes it
    text = "".join([chunk async for chunk in export.export_chunks(member.id)])

    # then: one JSON object, each section exactly the member's rows of its table
    document = json.loads(text)
    assert document["format"] == export.FORMAT
    assert document["memberId"] == member.id
    for table in TABLES:
        expected: dict[object, dict[str, object]] = {}
        for path in table.member_paths:
            for row in await table.model.filter(**member_filter(table, path, member.id)):
                expected[str(getattr(row, table.model._meta.pk_attr))] = export.row_of(table, row)
        rows = document["tables"][table.section]
        pk = table.model._meta.pk_attr
        assert {str(r[pk]) for r in rows} == set(expected), table.section
        assert sorted(rows, key=lambda r: str(r[pk])) == sorted(
            expected.values(), key=lambda r: str(r[pk])
        )
    # every table with data about this member has some: the scene covers the registry
    empty = {t.section for t in TABLES if not document["tables"][t.section]}
    # (no webhook endpoint, so no deliveries; no contribution or completion in this scene)
    assert empty <= {
        "erasure",
        "challengeContributions",
        "challengeCompletions",
        "webhookDeliveries",
    }, empty
    assert document["tables"]["profile"][0]["email"] == secrets.email
    assert "password_hash" not in document["tables"]["profile"][0]
    assert all("reason_salt" not in row for row in document["tables"]["ledgerEntries"])


async def test_the_whole_document_is_the_streamed_one_cut_at_max_rows(
    redis: Redis, settings: Settings
) -> None:
    # given
    member, _ = await busy_member(redis, settings, n=3)
    streamed = json.loads("".join([c async for c in export.export_chunks(member.id)]))

    # when
    whole = await export.export_document(member.id, max_rows=1000)
    cut = await export.export_document(member.id, max_rows=1)

    # then
    assert whole["tables"] == streamed["tables"]
    assert whole["truncated"] == []
    assert "ledgerEntries" in cut["truncated"]
    assert all(len(rows) <= 1 for rows in cut["tables"].values())
