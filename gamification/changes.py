"""The "leave it as it is" marker of partial updates (`...Changes` dataclasses): a field left
`UNCHANGED` keeps its value, while None clears a nullable one."""

from __future__ import annotations

import enum
from typing import Final, Literal


class _Unchanged(enum.Enum):
    UNCHANGED = "UNCHANGED"


UNCHANGED: Final = _Unchanged.UNCHANGED
Unchanged = Literal[_Unchanged.UNCHANGED]
