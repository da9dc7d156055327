"""Reads shared by the resolvers of one request: built with its context, so nothing read here
outlives the request.

A WebSocket connection keeps one context for its whole life, so there the loaders batch (the
reads of one moment still go out together) but do not cache: a later operation on the same
connection reads afresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from strawberry.dataloader import DataLoader

from gamification.ledger import overview as points_overview
from gamification.ledger.overview import PointsOverview
from gamification.members import profiles as members
from gamification.members.models import Member


@dataclass(frozen=True, slots=True)
class PointsKey:
    member_id: int
    # Also read the points expiring within this many days; None: only the cached figures.
    expiring_days: int | None = None


async def _members(ids: list[int]) -> list[Member | None]:
    found = await members.members_by_id(ids)
    return [found.get(i) for i in ids]


async def _points(keys: list[PointsKey]) -> list[PointsOverview]:
    # One statement for every member and window asked for at once: the widest window serves
    # the narrower ones (`PointsOverview.expiring_within`).
    days = [k.expiring_days for k in keys if k.expiring_days is not None]
    now = datetime.now(UTC)
    found = await points_overview.overviews(
        (k.member_id for k in keys), expiring_days=max(days) if days else None, now=now
    )
    return [_narrowed(found[k.member_id], k, now) for k in keys]


def _narrowed(overview: PointsOverview, key: PointsKey, now: datetime) -> PointsOverview:
    if key.expiring_days is None:
        return PointsOverview(overview.summary)
    return PointsOverview(overview.summary, tuple(overview.expiring_within(key.expiring_days, now)))


class Loaders:
    def __init__(self, *, cache: bool = True) -> None:
        # A member by id (None when there is none).
        self.member: DataLoader[int, Member | None] = DataLoader(_members, cache=cache)
        # A member's points figures, with what expires soon when asked.
        self.points: DataLoader[PointsKey, PointsOverview] = DataLoader(_points, cache=cache)
