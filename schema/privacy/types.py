"""GraphQL types of privacy: consents, an export, an erasure."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from gamification.privacy import models as privacy_models
from gamification.privacy.consents import ConsentState
from schema.stores.types import Channel

ConsentKind = strawberry.enum(privacy_models.ConsentKind, name="ConsentKind")
ConsentChannel = strawberry.enum(privacy_models.ConsentChannel, name="ConsentChannel")


@strawberry.type(name="Consent", description="A consent as the member's latest choice has it.")
class ConsentType:
    kind: ConsentKind  # type: ignore[valid-type]
    channel: ConsentChannel  # type: ignore[valid-type]
    given: bool
    text_version: str = strawberry.field(description="The wording agreed to; empty if never asked.")
    recorded_at: datetime | None

    @classmethod
    def from_state(cls, state: ConsentState) -> ConsentType:
        return cls(
            kind=state.kind,
            channel=state.channel,
            given=state.given,
            text_version=state.text_version,
            recorded_at=state.recorded_at,
        )


@strawberry.type(name="ConsentRecord", description="One consent given or withdrawn.")
class ConsentRecordType:
    kind: ConsentKind  # type: ignore[valid-type]
    channel: ConsentChannel  # type: ignore[valid-type]
    given: bool
    text_version: str
    source: Channel  # type: ignore[valid-type]
    recorded_at: datetime

    @classmethod
    def from_model(cls, record: privacy_models.ConsentRecord) -> ConsentRecordType:
        return cls(
            kind=record.kind,
            channel=record.channel,
            given=record.given,
            text_version=record.text_version,
            source=record.source,
            recorded_at=record.recorded_at,
        )


@strawberry.type(
    name="MemberExport", description="Everything held about a member (docs/privacy.md)."
)
class MemberExportType:
    document: JSON = strawberry.field(
        description="The export document; each section at most LOYALTY_EXPORT_MAX_ROWS rows."
    )
    truncated: list[str] = strawberry.field(
        description="Sections cut at the cap: `loyalty export-member` writes them whole."
    )


@strawberry.type(name="Erasure", description="A member's erasure.")
class ErasureType:
    erased_at: datetime
    forfeited_points: int
    released_holds: int
    already_erased: bool = strawberry.field(description="The member was erased before.")
