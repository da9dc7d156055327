"""Member search for support: each mode, what is normalised, paging, erased members."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from gamification.errors import InvalidInput
from gamification.members import search
from gamification.members.models import Member, Role
from gamification.members.search import MemberFilter
from gamification.privacy import erasure
from tests.factories import actor_of, create_device, create_member, create_store, hold_member_points
from tests.factories import credit_points as credit


async def _found(search_by: MemberFilter, *, first: int = 20) -> list[int]:
    page = await search.search_members(search_by, first=first, after_id=None)
    return [member.id for member in page.items]


async def test_an_email_is_found_exactly_whatever_its_case_and_surrounding_spaces() -> None:
    # given
    ann = await create_member(email="ann.lee@example.com")
    await create_member(email="ann.leeds@example.com")

    # when
    found = await _found(MemberFilter(email="  Ann.Lee@EXAMPLE.com "))

    # then
    assert found == [ann.id]


async def test_a_malformed_email_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        await _found(MemberFilter(email="not an address"))

    assert refused.value.code == "INVALID_EMAIL"


async def test_a_card_number_is_found_without_its_spaces_and_dashes() -> None:
    # given
    member = await create_member()
    await create_member()
    typed = " ".join(member.card_number[i : i + 4] for i in range(0, 16, 4))

    # when
    found = await _found(MemberFilter(card_number=typed.replace(" ", "-", 1)))

    # then
    assert found == [member.id]


async def test_a_card_number_is_not_found_by_a_part_of_it() -> None:
    member = await create_member()

    assert await _found(MemberFilter(card_number=member.card_number[:-1])) == []


@pytest.mark.parametrize("card_number", ["", "   ", "12ab", "1" * 21, "１２３"])
async def test_what_cannot_be_a_card_number_is_refused(card_number: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        await _found(MemberFilter(card_number=card_number))

    assert refused.value.field == "cardNumber"


async def test_a_name_prefix_ignores_case_and_finds_only_names_that_start_with_it() -> None:
    # given
    anna = await create_member(display_name="Anna Berg")
    annika = await create_member(display_name="annika")
    await create_member(display_name="Joanna")
    ann_e = await create_member(display_name="Ann_e")  # `_` is a LIKE wildcard: taken literally

    # when
    found = await _found(MemberFilter(name_prefix="ANN"))
    wildcard = await _found(MemberFilter(name_prefix="ann_"))
    percent = await _found(MemberFilter(name_prefix="%"))

    # then
    assert found == [anna.id, annika.id, ann_e.id]
    assert wildcard == [ann_e.id]
    assert percent == []


@pytest.mark.parametrize("prefix", ["", "   ", "x" * 41])
async def test_a_blank_or_overlong_name_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        await _found(MemberFilter(name_prefix=prefix))

    assert refused.value.field == "namePrefix"


async def test_filters_given_together_must_all_match() -> None:
    ann = await create_member(display_name="Ann", email="ann@example.com")

    assert await _found(MemberFilter(email="ann@example.com", name_prefix="an")) == [ann.id]
    assert await _found(MemberFilter(email="ann@example.com", name_prefix="bo")) == []


async def test_a_name_prefix_pages_through_every_match_once_in_order() -> None:
    # given: seven Lees among others
    lees = [(await create_member(display_name=f"Lee {n}")).id for n in range(7)]
    await create_member(display_name="Bo")

    # when
    seen: list[int] = []
    after_id = None
    while True:
        page = await search.search_members(
            MemberFilter(name_prefix="lee"), first=3, after_id=after_id
        )
        seen += [member.id for member in page.items]
        if not page.has_next:
            break
        after_id = page.items[-1].id

    # then
    assert seen == lees


async def test_an_erased_member_is_found_by_neither_old_nor_new_email_card_or_name() -> None:
    # given
    admin = await create_member(role=Role.ADMIN)
    member = await create_member(email="gone@example.com", display_name="Gone Person")
    await erasure.erase_member(actor=actor_of(admin), member_id=member.id, reason="request")
    erased = await Member.get(id=member.id)

    # then
    assert await _found(MemberFilter(email="gone@example.com")) == []
    assert await _found(MemberFilter(card_number=member.card_number)) == []
    assert await _found(MemberFilter(name_prefix="gone")) == []
    assert await _found(MemberFilter(name_prefix=erased.display_name)) == []
    assert await search.card_holder(member.card_number) is None


async def test_the_card_holder_is_found_by_card_and_unknown_cards_find_nobody() -> None:
    member = await create_member()

    holder = await search.card_holder(f" {member.card_number} ")

    assert holder is not None
    assert holder.id == member.id
    assert await search.card_holder("0" * 16) is None


async def test_open_holds_are_the_active_unexpired_ones_of_the_store_asked_for() -> None:
    # given: holds at two stores, one settled by expiry already
    member = await create_member()
    await credit(member=member, points=500)
    here, there = await create_store(), await create_store()
    till = await create_device(store=here)
    open_here = await hold_member_points(member=member, device=till, points=50)
    await hold_member_points(
        member=member, device=till, points=20, now=datetime.now(UTC) - timedelta(hours=1)
    )
    open_there = await hold_member_points(
        member=member, device=await create_device(store=there), points=30
    )

    # when
    at_here = await search.open_holds(member.id, store_id=here.id)
    anywhere = await search.open_holds(member.id, store_id=None)

    # then
    assert [hold.id for hold in at_here] == [open_here.id]
    assert [hold.id for hold in anywhere] == [open_here.id, open_there.id]


def test_the_first_name_is_the_first_word_of_the_display_name() -> None:
    assert search.first_name("Anna Maria Berg") == "Anna"
    assert search.first_name("  Bo ") == "Bo"


def _index_names(plan: dict[str, Any]) -> list[str]:
    names = [plan["Index Name"]] if "Index Name" in plan else []
    for child in plan.get("Plans", []):
        names += _index_names(child)
    return names


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("search_by", "index"),
    [
        (MemberFilter(name_prefix="ann"), "member_name_prefix_idx"),
        (MemberFilter(email="ann@example.com"), "member_email_key"),
        (MemberFilter(card_number="1234567812345678"), "member_card_number_key"),
    ],
)
async def test_each_search_reads_through_an_index(search_by: MemberFilter, index: str) -> None:
    # given: the statement the search sends, with its parameters
    page_sql = await _statement(search_by)

    # when
    async with in_transaction() as conn:
        await conn.execute_query("SET LOCAL enable_seqscan = off")
        _, rows = await conn.execute_query(f"EXPLAIN (FORMAT JSON) {page_sql[0]}", page_sql[1])
    raw = rows[0]["QUERY PLAN"]
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]

    # then
    assert index in _index_names(plan), plan


async def _statement(search_by: MemberFilter) -> tuple[str, list[Any]]:
    captured: list[tuple[str, list[Any]]] = []
    client = connections.get("default")
    original = client.execute_query

    async def capture(query: str, values: list[Any] | None = None) -> Any:
        captured.append((query, list(values or [])))
        return await original(query, values)

    client.execute_query = capture
    try:
        await _found(search_by)
    finally:
        client.execute_query = original
    return captured[-1]
