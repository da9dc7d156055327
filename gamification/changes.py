"""The "leave it as it is" marker of partial updates (`...Changes` dataclasses): a field left
`UNCHANGED` keeps its value, while None clears a nullable one; `changed_fields` names the
others."""

from __future__ import annotations

import enum
from dataclasses import fields
from typing import Any, Final, Literal


class _Unchanged(enum.Enum):
    UNCHANGED = "UNCHANGED"


UNCHANGED: Final = _Unchanged.UNCHANGED
Unchanged = Literal[_Unchanged.UNCHANGED]


def changed_fields(changes: object) -> dict[str, Any]:
    """The fields of a `...Changes` dataclass that are not UNCHANGED, by name."""
    return {
        field.name: value
        for field in fields(changes)  # type: ignore[arg-type]
        if (value := getattr(changes, field.name)) is not UNCHANGED
    }
