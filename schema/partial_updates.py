"""GraphQL inputs turned into the domain's dataclasses, field by field where the names agree.

- `input_of`: a create input, every field given, as the domain's `...Input` dataclass.
- `changes_of`: a partial update, whose fields left out (`strawberry.UNSET`) keep their value, as
  the domain's `...Changes` dataclass (whose fields default to "unchanged"); `given_fields` is
  the same as a dict, for use cases that take one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from typing import Any, TypeVar

import strawberry

from gamification.errors import ErrorCode, InvalidInput

C = TypeVar("C")

Converters = Mapping[str, Callable[[Any], Any]]


def camel(name: str) -> str:
    """A Python field name as GraphQL spells it: `per_member_limit` → `perMemberLimit`."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def input_of(
    input: object, target: type[C], *, convert: Converters | None = None, **given: Any
) -> C:
    """The `target` dataclass from `input`'s fields of the same names, a value not None passed
    through `convert[name]`; `given` supplies (or overrides) fields the input lacks."""
    values: dict[str, Any] = {}
    for field in fields(target):  # type: ignore[arg-type]
        name = field.name
        if name in given:
            values[name] = given[name]
            continue
        value = getattr(input, name)
        if value is not None and convert and name in convert:
            value = convert[name](value)
        values[name] = value
    return target(**values)


def given_fields(
    input: object,
    names: Iterable[str],
    *,
    nullable: frozenset[str] = frozenset(),
    convert: Converters | None = None,
    code: ErrorCode | None = None,
) -> dict[str, Any]:
    """The fields among `names` that `input` gives (an input may lack some): those named in
    `nullable` may be given as null (it clears them); a value not None is passed through
    `convert[name]`.

    Raises InvalidInput (with `code`, if given) when another field is given as null."""
    given: dict[str, Any] = {}
    for name in names:
        value = getattr(input, name, strawberry.UNSET)
        if value is strawberry.UNSET:
            continue
        if value is None and name not in nullable:
            raise InvalidInput(f"{camel(name)} cannot be null", code=code, field=camel(name))
        if value is not None and convert and name in convert:
            value = convert[name](value)
        given[name] = value
    return given


def changes_of(
    input: object,
    changes: type[C],
    *,
    nullable: frozenset[str],
    convert: Converters | None = None,
) -> C:
    """The `changes` dataclass holding the fields given in `input` (see `given_fields`).

    Raises InvalidInput when a field that cannot be empty is given as null."""
    names = (field.name for field in fields(changes))  # type: ignore[arg-type]
    return changes(**given_fields(input, names, nullable=nullable, convert=convert))
