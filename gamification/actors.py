"""Who is asking: the authenticated caller of a use case, recorded on what it changes."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gamification.members.models import Role
from gamification.stores.models import Channel


class ActorKind(enum.StrEnum):
    MEMBER = "member"
    STAFF = "staff"
    ADMIN = "admin"
    DEVICE = "device"


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    id: int  # a member id for people, a device id for devices
    store_id: int | None = None  # staff and devices act within one store
    channel: Channel | None = None  # devices act for one channel

    @classmethod
    def for_role(cls, role: Role, member_id: int, store_id: int | None = None) -> Actor:
        return cls(kind=ActorKind(role.value), id=member_id, store_id=store_id)

    @property
    def is_person(self) -> bool:
        return self.kind is not ActorKind.DEVICE

    @property
    def is_admin(self) -> bool:
        return self.kind is ActorKind.ADMIN

    @property
    def is_device(self) -> bool:
        return self.kind is ActorKind.DEVICE
