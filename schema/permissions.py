"""Who may call what. Failures are GraphQL errors with a stable `extensions.code` that say nothing
about why a credential was refused (expired, forged and revoked all read the same).

Without a credential a caller may read only the catalog a signed-out app shows: the tiers, the
rewards on offer, the causes, the challenges that are not hidden and the stores, each counted
against the client address's rate limit (schema.rate_limits.AnonymousReadLimit). Everything
about a member, and every write, needs a credential (UNAUTHENTICATED otherwise)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from strawberry.permission import BasePermission

from gamification.actors import ActorKind


class AuthenticationFailed(GraphQLError):
    def __init__(self) -> None:
        super().__init__("Authentication required", extensions={"code": "UNAUTHENTICATED"})


class Forbidden(GraphQLError):
    def __init__(self, message: str = "Not allowed") -> None:
        super().__init__(message, extensions={"code": "FORBIDDEN"})


class _RolePermission(BasePermission):
    allowed: frozenset[ActorKind] = frozenset()
    message = "Not allowed"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        actor = info.context.actor
        if actor is None:
            raise AuthenticationFailed()
        if actor.kind not in self.allowed:
            raise Forbidden()
        return True


class IsPerson(_RolePermission):
    """A signed-in member, staff member or admin (not a device)."""

    allowed = frozenset({ActorKind.MEMBER, ActorKind.STAFF, ActorKind.ADMIN})


class IsAdmin(_RolePermission):
    allowed = frozenset({ActorKind.ADMIN})


class IsDevice(_RolePermission):
    allowed = frozenset({ActorKind.DEVICE})


class IsStaffOrDevice(_RolePermission):
    """Someone acting for a store: a device, a staff member, or an admin."""

    allowed = frozenset({ActorKind.DEVICE, ActorKind.STAFF, ActorKind.ADMIN})


class IsStaffOrAdmin(_RolePermission):
    """A person who serves members: staff of a store, or an admin."""

    allowed = frozenset({ActorKind.STAFF, ActorKind.ADMIN})
