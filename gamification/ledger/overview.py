"""What a member sees of their points at a glance: the cached figures of their account and the
points that expire soon, read together in one statement for any number of members.

The app's home screen asks for both at once; `gamification.ledger.points` keeps the single-purpose
reads (`summary`, `expiring_soon`) that the write paths and other screens use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from gamification import program_settings, sql
from gamification.errors import InvalidInput
from gamification.ledger import accounts
from gamification.ledger.models import LedgerAccount, PointsLot
from gamification.ledger.points import ExpiringPoints, PointsSummary

_EMPTY: Final = PointsSummary(0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class PointsOverview:
    summary: PointsSummary
    # Unexpired lots' remaining points by expiry, earliest first, up to the horizon read.
    expiring: tuple[ExpiringPoints, ...] = field(default=())

    def expiring_within(self, days: int, now: datetime) -> list[ExpiringPoints]:
        """What expires in the next `days` days (the read's horizon must reach that far)."""
        until = now + timedelta(days=days)
        return [lot for lot in self.expiring if lot.expires_at <= until]


def max_expiring_days() -> int:
    # Points earned early in a month expire `points_expiry_months` + 1 months later (see
    # earning.expiry_for): a shorter limit would hide the lots earned this month. The same
    # bound as `points.expiring_soon`.
    return 31 * (program_settings.current().points_expiry_months + 1)


def check_expiring_days(days: int) -> None:
    """Raises InvalidInput when `days` is below 1 or beyond the furthest expiry a lot can
    have."""
    max_days = max_expiring_days()
    if days < 1 or days > max_days:
        raise InvalidInput(f"days must be between 1 and {max_days}", field="days")


async def overviews(
    member_ids: Iterable[int], *, expiring_days: int | None, now: datetime | None = None
) -> dict[int, PointsOverview]:
    """Each member's figures and, when `expiring_days` is given, the points expiring within
    that many days of `now`: one statement however many members. Members without an account
    yet get zeros. Raises InvalidInput for `expiring_days` out of bounds."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    codes = [accounts.member_account_code(member_id) for member_id in ids]
    placeholders = ", ".join(f"${n}" for n in range(1, len(codes) + 1))
    figures = "a.member_id, a.balance, a.held, a.lifetime_earned, a.clawback_outstanding"
    if expiring_days is None:
        statement = f"SELECT {figures} FROM ledger_account a WHERE a.code IN ({placeholders})"
        values: list[object] = list(codes)
    else:
        check_expiring_days(expiring_days)
        horizon = (now or datetime.now(UTC)).astimezone(UTC) + timedelta(days=expiring_days)
        # LEFT JOIN: a member with nothing expiring still gets their figures, with a NULL lot.
        statement = (
            f"SELECT {figures}, l.expires_at, SUM(l.remaining) AS expiring "
            "FROM ledger_account a LEFT JOIN points_lot l ON l.account_id = a.id "
            f"AND l.remaining > 0 AND l.expires_at <= ${len(codes) + 1} "
            f"WHERE a.code IN ({placeholders}) "
            f"GROUP BY {figures}, l.expires_at ORDER BY a.member_id, l.expires_at"
        )
        values = [*codes, horizon]
    rows = await sql.fetch(LedgerAccount._meta.db, statement, *values)
    expires_at = PointsLot._meta.fields_map["expires_at"]
    found: dict[int, tuple[PointsSummary, list[ExpiringPoints]]] = {}
    for row in rows:
        member_id = int(row["member_id"])
        if member_id not in found:
            summary = PointsSummary(
                int(row["balance"]),
                int(row["held"]),
                int(row["lifetime_earned"]),
                int(row["clawback_outstanding"]),
            )
            found[member_id] = (summary, [])
        if row.get("expires_at") is not None:
            found[member_id][1].append(
                ExpiringPoints(expires_at.to_python_value(row["expires_at"]), int(row["expiring"]))
            )
    overview: dict[int, PointsOverview] = {}
    for member_id in ids:
        summary, lots = found.get(member_id, (_EMPTY, []))
        overview[member_id] = PointsOverview(summary, tuple(lots))
    return overview
