"""Relay-style conventions: opaque global IDs, `node(id:)`, keyset cursor connections."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry

from gamification.errors import ErrorCode, InvalidInput
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


def to_global_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(_b64encode(f"{type_name}:{pk}"))


def from_global_id(value: str, *, field: str = "id") -> tuple[str, int]:
    """Raises InvalidInput when `value` is not a global ID this API issued."""
    try:
        type_name, _, raw_pk = _b64decode(value).partition(":")
        pk = int(raw_pk)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("Not a valid ID", field=field) from None
    if not type_name or pk <= 0 or len(value) > 64:
        raise InvalidInput("Not a valid ID", field=field)
    return type_name, pk


def pk_of(value: str, type_name: str, *, field: str = "id") -> int:
    """The primary key in a global ID of the given type. Raises InvalidInput otherwise."""
    found_type, pk = from_global_id(value, field=field)
    if found_type != type_name:
        raise InvalidInput(f"Not a {type_name} ID", field=field)
    return pk


def encode_cursor(pk: int) -> str:
    return _b64encode(f"{_CURSOR_PREFIX}{pk}")


def decode_cursor(cursor: str | None) -> int | None:
    """Raises InvalidInput(INVALID_CURSOR) for a cursor this API did not issue."""
    if cursor is None:
        return None
    try:
        text = _b64decode(cursor)
        if not text.startswith(_CURSOR_PREFIX) or len(cursor) > 64:
            raise ValueError(cursor)
        return int(text.removeprefix(_CURSOR_PREFIX))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("Not a valid cursor", code=ErrorCode.INVALID_CURSOR, field="after") from None


def page_args(info: Info, first: int, after: str | None) -> tuple[int, int | None]:
    """Checked `first` and decoded `after`. Raises InvalidInput for either out of bounds."""
    check_page_size(first, info.context.settings.max_page_size)
    return first, decode_cursor(after)


@strawberry.interface(description="An object with a global ID, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo

    @classmethod
    def of(
        cls, page: Page[Any], to_node: Callable[[Any], NodeT]
    ) -> Connection[NodeT]:
        edges = [Edge(cursor=encode_cursor(row.pk), node=to_node(row)) for row in page.items]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None
            ),
        )


# type name -> loader(info, pk) returning the node when the caller may see it, else None.
NodeLoader = Callable[[Info, int], Awaitable[Any]]
_node_loaders: dict[str, NodeLoader] = {}


def register_node(type_name: str, loader: NodeLoader) -> None:
    _node_loaders[type_name] = loader


def node_type_names() -> Sequence[str]:
    return sorted(_node_loaders)


async def resolve_node(info: Info, global_id: str) -> Any:
    """The object behind `global_id` if it exists and the caller may see it; None otherwise, so
    that a missing object and a forbidden one look the same."""
    try:
        type_name, pk = from_global_id(global_id)
    except InvalidInput:
        return None
    loader = _node_loaders.get(type_name)
    if loader is None:
        return None
    return await loader(info, pk)
