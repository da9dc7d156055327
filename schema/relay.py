"""Relay-style conventions: opaque global IDs, `node(id:)`, keyset cursor connections."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry

from gamification.errors import ErrorCode, InvalidInput
from gamification.limits import MAX_INT32
from gamification.pagination import Page, check_page_size
from schema.context import Info

NodeT = TypeVar("NodeT")
RowT = TypeVar("RowT")

_CURSOR_PREFIX = "cursor:"


def _b64encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _b64decode(value: str) -> str:
    padded = value + "=" * (-len(value) % 4)
    return base64.urlsafe_b64decode(padded.encode()).decode()


# The largest id a global ID or cursor may name. Most tables (members, stores, devices) have
# 32-bit ids, and PostgreSQL refuses to compare an `integer` column with a larger number (the
# driver raises instead of finding nothing), so a larger id is not a valid ID of those types.
# Types with 64-bit ids register with MAX_PK.
MAX_INT_PK = MAX_INT32
MAX_PK = 2**63 - 1
_MAX_ENCODED_LENGTH = 64


def _positive_int(text: str, maximum: int) -> int:
    """Raises ValueError unless `text` is the plain decimal form of 1..maximum."""
    # `int()` alone would also take " 7", "+7", "0_7" and non-ASCII digits.
    if not (text.isascii() and text.isdigit()) or text.startswith("0"):
        raise ValueError(text)
    if len(text) > len(str(maximum)) or int(text) > maximum:
        raise ValueError(text)
    return int(text)


def to_global_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(_b64encode(f"{type_name}:{pk}"))


def from_global_id(value: str, *, field: str = "id") -> tuple[str, int]:
    """Raises InvalidInput when `value` is not a global ID this API could have issued (an id
    out of its type's range included)."""
    try:
        if len(value) > _MAX_ENCODED_LENGTH:
            raise ValueError(value)
        type_name, _, raw_pk = _b64decode(value).partition(":")
        if not type_name:
            raise ValueError(value)
        pk = _positive_int(raw_pk, _max_pk.get(type_name, MAX_INT_PK))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("Not a valid ID", field=field) from None
    return type_name, pk


def pk_of(value: str, type_name: str, *, field: str = "id") -> int:
    """The primary key in a global ID of the given type. Raises InvalidInput otherwise."""
    found_type, pk = from_global_id(value, field=field)
    if found_type != type_name:
        raise InvalidInput(f"Not a {type_name} ID", field=field)
    return pk


def encode_cursor(pk: int) -> str:
    return _b64encode(f"{_CURSOR_PREFIX}{pk}")


def decode_cursor(cursor: str | None, *, max_pk: int = MAX_INT_PK) -> int | None:
    """Raises InvalidInput(INVALID_CURSOR) for a cursor this API did not issue."""
    if cursor is None:
        return None
    try:
        if len(cursor) > _MAX_ENCODED_LENGTH:
            raise ValueError(cursor)
        text = _b64decode(cursor)
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError(cursor)
        return _positive_int(text.removeprefix(_CURSOR_PREFIX), max_pk)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput(
            "Not a valid cursor", code=ErrorCode.INVALID_CURSOR, field="after"
        ) from None


def page_args(
    info: Info, first: int, after: str | None, *, max_pk: int = MAX_INT_PK
) -> tuple[int, int | None]:
    """Checked `first` and decoded `after`. Raises InvalidInput for either out of bounds.

    `max_pk` is the largest id of the paged table (MAX_PK for 64-bit ids)."""
    check_page_size(first, info.context.settings.max_page_size)
    return first, decode_cursor(after, max_pk=max_pk)


@strawberry.interface(description="An object with a global ID, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID


@strawberry.type(description="Where a page is in the whole list (Relay's PageInfo).")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="More items follow: ask again with `after: endCursor`."
    )
    end_cursor: str | None = strawberry.field(
        description="The cursor of the page's last item; null for an empty page."
    )
    has_previous_page: bool = strawberry.field(
        default=False,
        description="Items come before this page (it was asked for with `after`). Pages go "
        "forward only: to go back, keep the cursors you were given.",
    )
    start_cursor: str | None = strawberry.field(
        default=None, description="The cursor of the page's first item; null for an empty page."
    )


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo

    @classmethod
    def of(cls, page: Page[Any], to_node: Callable[[Any], NodeT]) -> Connection[NodeT]:
        edges = [Edge(cursor=encode_cursor(row.pk), node=to_node(row)) for row in page.items]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                end_cursor=edges[-1].cursor if edges else None,
                has_previous_page=page.has_previous,
                start_cursor=edges[0].cursor if edges else None,
            ),
        )


# type name -> loader(info, pk) returning the node when the caller may see it, else None.
NodeLoader = Callable[[Info, int], Awaitable[Any]]
_node_loaders: dict[str, NodeLoader] = {}
# type name -> the largest id its table holds (MAX_INT_PK unless registered otherwise).
_max_pk: dict[str, int] = {}


def register_node(type_name: str, loader: NodeLoader, *, max_pk: int = MAX_INT_PK) -> None:
    """Make `type_name` fetchable with `node(id:)`. Give `max_pk=MAX_PK` for 64-bit ids."""
    _node_loaders[type_name] = loader
    _max_pk[type_name] = max_pk


def node_type_names() -> Sequence[str]:
    return sorted(_node_loaders)


async def resolve_node(info: Info, global_id: str) -> Any:
    """The object behind `global_id` if it exists and the caller may see it; None otherwise, so
    that a missing object and a forbidden one look the same.

    Raises AuthenticationFailed for anonymous callers: no node is public, and a refused
    credential must read as UNAUTHENTICATED here as on every other field."""
    info.context.require_actor()
    try:
        type_name, pk = from_global_id(global_id)
    except InvalidInput:
        return None
    loader = _node_loaders.get(type_name)
    if loader is None:
        return None
    return await loader(info, pk)
