"""Persisted queries: the Apollo automatic persisted query protocol, and an allow-list mode.

A client sends `extensions.persistedQuery = {version: 1, sha256Hash}` with or without the
document (`query`), by POST or, for queries, by GET:

- hash only, known here: the stored document runs (no document on the wire, and a GET request
  a CDN can cache);
- hash only, unknown: `PERSISTED_QUERY_NOT_FOUND` (HTTP 200, like Apollo Server); the client
  sends the document with the hash, which registers it;
- document and hash: the hash must be the document's SHA-256 (hex), else
  `PERSISTED_QUERY_HASH_MISMATCH`; the document runs and is stored for the next time.

Documents registered by clients are kept in Redis (`LOYALTY_REDIS_URL`; shared by every worker
and server) for `APQ_TTL`, and in a small per-process map in front of it.

`LOYALTY_PERSISTED_QUERIES` chooses the mode: `automatic` (the protocol above, and any other
document runs too), `allowlist` (only the registered set runs: the app's operations shipped in
`schema/registered_operations/`, by hash or by the same text; anything else is refused with
`PERSISTED_QUERY_NOT_ALLOWED`, and clients cannot register documents; over WebSockets too, see
`schema.persisted.AllowListOnly`), or `off` (the extension is ignored). Production should run
`allowlist` once its clients ship the registered set.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import replace
from typing import Any, Final

from cross_web import HTTPException
from redis.asyncio import Redis
from redis.exceptions import RedisError
from strawberry.http import GraphQLRequestData

from gamification import redis_keys
from schema.persisted import document_hash
from server.settings import PersistedQueryMode

logger = logging.getLogger("loyalty.persisted_queries")

APQ_TTL: Final = 7 * 24 * 3600  # seconds a client-registered document is kept in Redis
_LOCAL_ENTRIES: Final = 1024


class PersistedQueryRefused(HTTPException):
    """A request the persisted-query rules refuse, with the GraphQL error `code` to answer."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(status_code, message)
        self.code = code


def _requested_hash(extensions: dict[str, Any] | None) -> str | None:
    """The hash a request names, or None when it uses no persisted query.

    Raises PersistedQueryRefused for an extension that is not version 1 with a hex hash.
    """
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    sha = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
    if (
        not isinstance(persisted, dict)
        or persisted.get("version") != 1
        or not isinstance(sha, str)
        or len(sha) != 64
        or any(c not in "0123456789abcdef" for c in sha)
    ):
        raise PersistedQueryRefused(
            400,
            "PERSISTED_QUERY_INVALID",
            "persistedQuery must be {version: 1, sha256Hash: <64 lower-case hex digits>}",
        )
    return sha


class PersistedQueries:
    def __init__(self, mode: PersistedQueryMode, registered: dict[str, str]) -> None:
        self.mode = mode
        self.registered = registered
        self._local: OrderedDict[str, str] = OrderedDict()

    def _remember(self, sha: str, document: str) -> None:
        self._local[sha] = document
        self._local.move_to_end(sha)
        while len(self._local) > _LOCAL_ENTRIES:
            self._local.popitem(last=False)

    async def _stored(self, redis: Redis, sha: str) -> str | None:
        if sha in self._local:
            return self._local[sha]
        try:
            raw = await redis.get(redis_keys.persisted_query(sha))
        except RedisError as error:  # the document can still be sent in full
            logger.warning("persisted query store unavailable: %r", error)
            return None
        if raw is None:
            return None
        document = raw.decode() if isinstance(raw, bytes) else str(raw)
        self._remember(sha, document)
        return document

    async def _store(self, redis: Redis, sha: str, document: str) -> None:
        self._remember(sha, document)
        try:
            await redis.set(redis_keys.persisted_query(sha), document, ex=APQ_TTL)
        except RedisError as error:
            logger.warning("persisted query not shared with other workers: %r", error)

    async def resolve(self, data: GraphQLRequestData, redis: Redis) -> GraphQLRequestData:
        """The request with its document, as the mode allows.

        Raises PersistedQueryRefused (PERSISTED_QUERY_NOT_FOUND, PERSISTED_QUERY_HASH_MISMATCH,
        PERSISTED_QUERY_NOT_ALLOWED, PERSISTED_QUERY_INVALID).
        """
        if self.mode is PersistedQueryMode.OFF:
            return data
        sha = _requested_hash(data.extensions)
        if self.mode is PersistedQueryMode.ALLOWLIST:
            return self._allowed(data, sha)
        if sha is None:
            return data
        if data.query is None:
            document = self.registered.get(sha) or await self._stored(redis, sha)
            if document is None:
                raise PersistedQueryRefused(
                    200, "PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound"
                )
            return replace(data, query=document)
        if document_hash(data.query) != sha:
            raise PersistedQueryRefused(
                400,
                "PERSISTED_QUERY_HASH_MISMATCH",
                "sha256Hash is not the SHA-256 of the query",
            )
        if sha not in self.registered:
            await self._store(redis, sha, data.query)
        return data

    def _allowed(self, data: GraphQLRequestData, sha: str | None) -> GraphQLRequestData:
        if data.query is not None:
            sha = document_hash(data.query)
        document = self.registered.get(sha) if sha else None
        if document is None:
            raise PersistedQueryRefused(
                400,
                "PERSISTED_QUERY_NOT_ALLOWED",
                "Only the registered operations run here (send their sha256Hash)",
            )
        return replace(data, query=document)
