"""The GraphQL endpoint: Strawberry's ASGI view with our context and WebSocket authentication."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, cast

import strawberry
from cross_web import HTTPException, StarletteRequestAdapter
from graphql import GraphQLError
from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.http.types import QueryParams
from strawberry.schema.schema import StreamResult
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.unset import UNSET, UnsetType

from channels.credentials import InvalidCredential, authenticate_bearer, bearer_token
from gamification.actors import Actor
from schema.context import Context
from schema.dataloaders import Loaders
from schema.persisted import registered_set
from schema.schema import build_schema
from server.graphiql import graphiql_page
from server.observability import OperationMetrics
from server.persisted_queries import PersistedQueries, PersistedQueryRefused
from server.request_connection import OneConnectionPerOperation
from server.response_cache import HomeScreenCache
from server.settings import Settings

logger = logging.getLogger("loyalty.auth")


# The `code` of a request refused before any operation runs, by its HTTP status.
_REFUSAL_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    415: "UNSUPPORTED_MEDIA_TYPE",
}
_ALLOWED_METHODS = "GET, POST"


def _refusal(status_code: int, message: str, code: str | None = None) -> JSONResponse:
    """A request error as a GraphQL response document (no `data`: nothing was executed)."""
    code = code or _REFUSAL_CODES.get(status_code, "BAD_REQUEST")
    # Sending the document with its hash answers PERSISTED_QUERY_NOT_FOUND; nothing else helps.
    retryable = code == "PERSISTED_QUERY_NOT_FOUND"
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code, "retryable": retryable}}]},
        status_code=status_code,
        headers={"Allow": _ALLOWED_METHODS} if status_code == 405 else None,
    )


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json"


class LoyaltyTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def _send_result_stream(
        self, operation: Operation[Context, None], result_source: StreamResult
    ) -> None:
        try:
            await super()._send_result_stream(operation, result_source)
        except GraphQLError as error:
            # Refused before parsing (the document limits, the parser cache's syntax errors):
            # Strawberry's HTTP view answers these as errors, but its WebSocket stream lets
            # them escape, and the client would get a bare `complete`. Answer them as the
            # errors of the operation, like validation errors (syntax errors close the
            # socket with 4400, as Strawberry does for them without a parser cache).
            await self._handle_pre_execution_error(
                operation, PreExecutionError(data=None, errors=[error])
            )


class LoyaltyRequestAdapter(StarletteRequestAdapter):
    @property
    def redis(self) -> Redis:
        """The app's Redis, for what the view reads before the operation's context exists."""
        redis: Redis = self._request.app.state.redis
        return redis


class LoyaltyGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = LoyaltyTransportWSHandler
    request_adapter_class = LoyaltyRequestAdapter

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            # At most one pooled connection per query or mutation (see the module).
            build_schema(
                settings,
                outermost=[
                    # Counted and timed from the start, the wait for a connection included.
                    OperationMetrics,
                    partial(
                        OneConnectionPerOperation,
                        wait_seconds=settings.database_pool_timeout_seconds,
                    ),
                ],
            ),
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            # Browsers send an Origin on the WebSocket handshake; others are refused (403).
            allowed_origins=settings.allowed_origins,
        )
        self.settings = settings
        self.persisted = PersistedQueries(settings.persisted_queries, registered_set())
        self.home_cache = HomeScreenCache(
            settings, cast("strawberry.Schema", self.schema), registered_set()
        )

    async def parse_http_body(  # type: ignore[override]
        self, request: LoyaltyRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """The request, with the document a persisted query names (see
        server.persisted_queries). Raises PersistedQueryRefused."""
        data = await super().parse_http_body(request)
        if isinstance(data, list):  # batches are refused before this runs
            return data
        return await self.persisted.resolve(data, request.redis)

    async def execute_single(
        self,
        request: Request,
        request_adapter: LoyaltyRequestAdapter,  # type: ignore[override]
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """The operation's result; the home screen's from its cache when it may be
        (server.response_cache)."""
        run = partial(
            super().execute_single, request, request_adapter, sub_response, context, root_value
        )
        return await self.home_cache.answer(request_data, context, run)

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET that names a persisted query is an operation, whatever its Accept header.
        params: QueryParams = request.query_params
        return "extensions" not in params and super().should_render_graphql_ide(request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Strawberry answers the requests it refuses (malformed JSON, a batch, a missing query,
        a method other than GET and POST) in plain text; here they are GraphQL responses, with
        `errors[].extensions.code`, that every GraphQL client can read."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        response: Response
        if request.method == "POST" and not _is_json(request.headers.get("content-type")):
            response = _refusal(415, "Send the operation as JSON (Content-Type: application/json).")
        else:
            try:
                response = await self.run(request)
            except PersistedQueryRefused as refused:
                response = _refusal(refused.status_code, refused.reason, refused.code)
            except HTTPException as refused:
                response = _refusal(refused.status_code, refused.reason)
        await response(scope, receive, send)

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from the package's own files (Strawberry's page needs a CDN)."""
        return graphiql_page(request)

    async def _actor_for(self, token: str | None) -> Actor | None:
        """The caller behind `token`; None for no token or one we refuse (the reason is logged,
        never returned, so that an attacker learns nothing from the answer)."""
        if token is None:
            return None
        try:
            return await authenticate_bearer(token, self.settings)
        except InvalidCredential as exc:
            logger.info("refused credential: %s", exc)
            return None

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        actor = None
        if isinstance(request, Request):
            actor = await self._actor_for(bearer_token(request.headers.get("authorization")))
        return Context(
            settings=self.settings,
            redis=request.app.state.redis,
            feed=getattr(request.app.state, "broker", None),
            actor=actor,
            request=request,
            response=response if isinstance(response, Response) else None,
            # A WebSocket keeps this context for all its operations: batch, never cache.
            loaders=Loaders(cache=isinstance(request, Request)),
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, Any] | None:
        params = context.connection_params or {}
        raw = params.get("authorization") or params.get("Authorization") or params.get("token")
        token = bearer_token(raw) if isinstance(raw, str) and " " in raw else raw
        actor = await self._actor_for(token if isinstance(token, str) else None)
        if actor is None:
            raise ConnectionRejectionError({"reason": "authentication required"})
        context.actor = actor
        # UNSET: a bare `connection_ack`, without `"payload": null`.
        return UNSET
