"""Dataclasses filled from objects that hold the same names: a use case's input from the row it
updates (`gamification.changes` then applies the changes), or an API type from a row. Whoever
copies gives what differs (conversions, computed values) and the rest is copied by name."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

_INIT_FIELDS: dict[type, tuple[str, ...]] = {}


def _init_fields(target: type) -> tuple[str, ...]:
    """The fields set when a `target` is made (not those computed later), remembered per type."""
    names = _INIT_FIELDS.get(target)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(target) if f.init)
        _INIT_FIELDS[target] = names
    return names


def copy_into(target: type[T], source: object, /, **given: Any) -> T:
    """A `target` dataclass whose fields are `given`, or else `source`'s attributes of the same
    names.

    Raises AttributeError when a field is neither given nor an attribute of `source`, and
    TypeError when `given` names a field `target` does not have. (`target` and `source` are
    positional only: a field may have either name.)"""
    names = _init_fields(target)
    if not given.keys() <= set(names):
        raise TypeError(f"{target.__name__} has no field {sorted(given.keys() - set(names))}")
    return target(
        **{name: given[name] if name in given else getattr(source, name) for name in names}
    )
