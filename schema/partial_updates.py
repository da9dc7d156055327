"""Partial updates: an input whose fields left out (`strawberry.UNSET`) keep their value, turned
into the domain's `...Changes` dataclass (whose fields default to "unchanged")."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, TypeVar

import strawberry

from gamification.errors import InvalidInput

C = TypeVar("C")


def camel(name: str) -> str:
    """A Python field name as GraphQL spells it: `per_member_limit` → `perMemberLimit`."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def changes_of(
    input: object,
    changes: type[C],
    *,
    nullable: frozenset[str],
    convert: Mapping[str, Callable[[Any], Any]] | None = None,
) -> C:
    """The `changes` dataclass holding the fields given in `input`: those named in `nullable`
    may be given as null (it clears them); a given value is passed through `convert[name]`.

    Raises InvalidInput when a field that cannot be empty is given as null."""
    given: dict[str, Any] = {}
    for field in fields(changes):  # type: ignore[arg-type]
        name = field.name
        value = getattr(input, name)
        if value is strawberry.UNSET:
            continue
        if value is None and name not in nullable:
            raise InvalidInput(f"{camel(name)} cannot be null", field=camel(name))
        if convert and name in convert:
            value = convert[name](value)
        given[name] = value
    return changes(**given)
