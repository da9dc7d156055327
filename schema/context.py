"""The per-request (or per-WebSocket-connection) context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import strawberry

from gamification.actors import Actor
from gamification.events.realtime import Feed
from schema.dataloaders import Loaders
from schema.permissions import AuthenticationFailed, Forbidden
from server.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.websockets import WebSocket


@dataclass
class Context:
    settings: Settings
    redis: Redis
    actor: Actor | None = None
    request: Request | WebSocket | None = None
    response: Response | None = None
    connection_params: dict[str, Any] | None = field(default=None)
    # The process's real-time fan-out (subscriptions); None where nothing runs one (scripts).
    feed: Feed | None = None
    # Reads shared by this request's resolvers (schema.dataloaders); per connection, uncached.
    loaders: Loaders = field(default_factory=Loaders)

    def require_actor(self) -> Actor:
        """Raises AuthenticationFailed when the request carries no valid credential."""
        if self.actor is None:
            raise AuthenticationFailed()
        return self.actor

    def require_person(self) -> Actor:
        """The signed-in member, staff or admin. Raises for anonymous callers and devices."""
        actor = self.require_actor()
        if not actor.is_person:
            raise Forbidden()
        return actor


Info = strawberry.Info[Context, None]
