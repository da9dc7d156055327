"""Limits the storage sets on values of every domain."""

from __future__ import annotations

from typing import Final

# The largest value of a 32-bit integer column (ids, stock, goals, caps) and of a GraphQL `Int`.
# PostgreSQL raises (rather than finding nothing) when a larger number is compared with one.
MAX_INT32: Final = 2**31 - 1
