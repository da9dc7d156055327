"""A member's data as one JSON document (docs/privacy.md#export has its schema).

`export_chunks` yields the document in pieces, table by table and rows in batches, so that the
CLI writes a large export to a file without holding it in memory; `export_document` builds it
whole, with at most `max_rows` rows per section (the API's cap), and says which sections it cut.
Every table of `gamification.privacy.registry` is a section, in registry order.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Final
from uuid import UUID

from tortoise.models import Model

from gamification.errors import NotFound
from gamification.members.models import Member
from gamification.privacy.registry import TABLES, MemberTable, member_filter

FORMAT: Final = "loyalty-member-export"
VERSION: Final = 1
_BATCH: Final = 500


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal | UUID):
        return str(value)
    return value


def _columns(table: MemberTable) -> list[str]:
    fields = table.model._meta.fields_db_projection  # field name -> column
    return [name for name in fields if name not in table.withheld]


def row_of(table: MemberTable, row: Model) -> dict[str, Any]:
    """One row as the export shows it: every column but the withheld ones, JSON-ready."""
    return {name: _value(getattr(row, name)) for name in _columns(table)}


async def _rows(table: MemberTable, member_id: int) -> AsyncIterator[dict[str, Any]]:
    """The member's rows of one table, by primary key, in batches."""
    pk = table.model._meta.pk_attr
    seen: set[Any] = set()
    for path in table.member_paths:
        last: Any = None
        while True:
            query = table.model.filter(**member_filter(table, path, member_id))
            if last is not None:
                query = query.filter(**{f"{pk}__gt": last})
            batch = await query.order_by(pk).limit(_BATCH)
            for row in batch:
                key = getattr(row, pk)
                if key not in seen:  # a follow of oneself matches both paths
                    seen.add(key)
                    yield row_of(table, row)
            if len(batch) < _BATCH:
                break
            last = getattr(batch[-1], pk)


async def _member(member_id: int) -> Member:
    member = await Member.get_or_none(id=member_id) if 0 < member_id < 2**31 else None
    if member is None:
        raise NotFound("Member not found", field="memberId")
    return member


def _head(member: Member, now: datetime) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "memberId": member.id,
        "exportedAt": now.isoformat(),
        "erased": member.erased_at is not None,
    }


async def export_chunks(member_id: int, *, now: datetime | None = None) -> AsyncIterator[str]:
    """The whole document, as pieces of JSON text that join into one object.

    Raises NotFound when there is no such member (before yielding anything)."""
    member = await _member(member_id)
    head = json.dumps(_head(member, now or datetime.now(UTC)), separators=(",", ":"))
    yield head[:-1] + ',"tables":{'
    for index, table in enumerate(TABLES):
        yield ("," if index else "") + json.dumps(table.section) + ":["
        first = True
        async for row in _rows(table, member.id):
            yield ("" if first else ",") + json.dumps(row, separators=(",", ":"))
            first = False
        yield "]"
    yield "}}"


async def export_document(
    member_id: int, *, max_rows: int, now: datetime | None = None
) -> dict[str, Any]:
    """The document as one object, each section cut at `max_rows` rows; `truncated` lists the
    sections that were cut (use `loyalty export-member` for everything).

    Raises NotFound when there is no such member."""
    member = await _member(member_id)
    document = _head(member, now or datetime.now(UTC))
    tables: dict[str, list[dict[str, Any]]] = {}
    truncated: list[str] = []
    for table in TABLES:
        rows: list[dict[str, Any]] = []
        async for row in _rows(table, member.id):
            if len(rows) == max_rows:
                truncated.append(table.section)
                break
            rows.append(row)
        tables[table.section] = rows
    document["tables"] = tables
    document["truncated"] = truncated
    return document
