"""Keyset pagination: a page is found by the last id seen, so its cost does not grow with depth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from tortoise.models import Model
from tortoise.queryset import QuerySet

from gamification.errors import ErrorCode, InvalidInput

M = TypeVar("M", bound=Model)


@dataclass(frozen=True, slots=True)
class Page(Generic[M]):
    items: Sequence[M]
    has_next: bool
    # Items come before this page: it starts after a cursor (a cursor names an item that was).
    has_previous: bool = False


def check_page_size(first: int, maximum: int) -> None:
    """Raises InvalidInput when `first` is not between 0 and `maximum`."""
    if first < 0:
        raise InvalidInput("`first` must not be negative", field="first")
    if first > maximum:
        raise InvalidInput(
            f"`first` must be at most {maximum}", code=ErrorCode.PAGE_SIZE_TOO_LARGE, field="first"
        )


async def keyset_page(
    queryset: QuerySet[M], *, first: int, after_id: int | None, newest_first: bool = False
) -> Page[M]:
    """One page of `queryset` ordered by id, starting after `after_id`."""
    if after_id is not None:
        queryset = (
            queryset.filter(id__lt=after_id) if newest_first else queryset.filter(id__gt=after_id)
        )
    rows = await queryset.order_by("-id" if newest_first else "id").limit(first + 1)
    return Page(items=rows[:first], has_next=len(rows) > first, has_previous=after_id is not None)
