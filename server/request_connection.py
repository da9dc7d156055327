"""At most one pooled PostgreSQL connection per GraphQL query or mutation.

graphql-core resolves sibling fields concurrently and Tortoise takes a pooled connection for each
statement, so the home screen (`me { points tier challenges badges rank }`) ran its statements on
up to five connections at once, and a few busy processes exhausted PostgreSQL's
`max_connections`. `OneConnectionPerOperation` gives each query and mutation (over HTTP or a
WebSocket) a `RequestConnection`: a Tortoise client, set in Tortoise's ContextVar for the
execution, so that every ORM call that does not pass `using_db` reaches it. It takes one
connection from the pool on the operation's first statement (an operation that never reaches the
database takes none), runs the operation's statements on it one at a time, and gives it back when
the execution ends, after the after-commit work of the outer extensions.

A use case's `in_transaction()` begins a real transaction on that connection, not a savepoint:
its commit stays a commit. The operation's transactions run one after another (asyncpg would nest
a second one as a savepoint of the first); a statement that does not belong to the transaction
(a sibling resolver, which GraphQL never runs beside a mutation's resolver) waits for its turn
and runs on the same connection.

Waiting for the connection is bounded by the pool (`server.pg_pool`): an exhausted pool answers
UNAVAILABLE, retryable. Subscriptions are left alone (holding a connection while waiting for
events would cap the subscribers at the pool's size); SQLite has one connection per process and
no pool, so there is nothing to do there. See docs/operations.md, "Connection budget".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType
from tortoise import connections
from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import (
    NestedTransactionContext,
    TransactionalDBClient,
    TransactionContext,
)
from tortoise.connection import ConnectionToken
from tortoise.exceptions import ConfigurationError, TransactionManagementError


class RequestConnection(AsyncpgDBClient):
    """One operation's view of a pooled client: one connection, one statement at a time."""

    def __init__(self, pooled: AsyncpgDBClient, *, wait_seconds: float) -> None:
        # Not the parent's __init__: this client borrows the pool, it does not own one.
        self.log = pooled.log
        self.connection_name = pooled.connection_name
        self.fetch_inserted = pooled.fetch_inserted
        self._pooled = pooled
        self._connection: asyncpg.Connection | None = None
        self._statement = asyncio.Lock()
        self._transaction = asyncio.Lock()
        self._closed = False
        self.wait_seconds = wait_seconds

    @property
    def statement_lock(self) -> asyncio.Lock:
        return self._statement

    def acquire_connection(self) -> Any:
        return _Statement(self)

    def _in_transaction(self) -> TransactionContext:
        if self._closed:
            return self._pooled._in_transaction()
        return _OperationTransaction(self)

    async def checkout(self) -> asyncpg.Connection:
        """The operation's connection, taken from the pool on first use. Call with the
        statement lock held. Raises TimeoutError when the pool has none to give in time."""
        if self._connection is None:
            if self._pooled._pool is None:
                async with self._pooled._pool_init_lock:
                    if self._pooled._pool is None:
                        await self._pooled.create_connection(with_db=True)
            self._connection = await self.pool.acquire()
        return self._connection

    async def close(self) -> None:
        """Give the connection back; later statements (a task that outlived the operation)
        go to the pool one by one, like the pooled client's."""
        async with self._transaction, self._statement:
            self._closed = True
            connection, self._connection = self._connection, None
            if connection is not None:
                await self.pool.release(connection)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pool(self) -> Any:
        return self._pooled._pool


class _Statement:
    """`acquire_connection()` of a RequestConnection: the operation's connection, held by one
    statement at a time."""

    __slots__ = ("_borrowed", "_client")

    def __init__(self, client: RequestConnection) -> None:
        self._client = client
        self._borrowed: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        await self._client.statement_lock.acquire()
        try:
            if self._client.closed:
                self._borrowed = await self._client.pool.acquire()
                return self._borrowed
            return await self._client.checkout()
        except BaseException:
            self._client.statement_lock.release()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            if self._borrowed is not None:
                await self._client.pool.release(self._borrowed)
        finally:
            self._borrowed = None
            self._client.statement_lock.release()


class _PinnedTransaction(TransactionWrapper):
    """Tortoise's asyncpg transaction on the operation's connection, its statements (and its
    savepoints') taking the operation's statement lock."""

    def __init__(self, outer: AsyncpgDBClient, lock: asyncio.Lock) -> None:
        super().__init__(outer)
        self._lock = lock

    def _in_transaction(self) -> TransactionContext:
        return NestedTransactionContext(_PinnedTransaction(self, self._lock))


class _OperationTransaction(TransactionContext):
    """`in_transaction()` inside an operation: BEGIN … COMMIT on the operation's connection."""

    def __init__(self, request: RequestConnection) -> None:
        self._request = request
        self._token: ConnectionToken | None = None
        self._fallback: TransactionContext | None = None

    async def __aenter__(self) -> TransactionalDBClient:
        request = self._request
        # Bounded like the pool's wait: a transaction that waited on another of its own
        # operation would otherwise hang; this answers UNAVAILABLE, retryable.
        async with asyncio.timeout(request.wait_seconds):
            await request._transaction.acquire()
        try:
            if request.closed:
                # The operation ended while this waited: a transaction of its own, as usual.
                request._transaction.release()
                self._fallback = request._pooled._in_transaction()
                return await self._fallback.__aenter__()
            async with request.statement_lock:
                await request.checkout()
                self.client = _PinnedTransaction(request, request.statement_lock)
                await self.client.begin()
        except BaseException:
            if self._fallback is None:
                request._transaction.release()
            raise
        self._token = connections.set(request.connection_name, self.client)
        return self.client

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        if self._fallback is not None:
            await self._fallback.__aexit__(exc_type, exc_val, exc_tb)
            return
        try:
            if not self.client._finalized:
                async with self._request.statement_lock:
                    if exc_type is None:
                        await self.client.commit()
                    elif exc_type is not TransactionManagementError:
                        # Like Tortoise's: a failed transaction cannot be rolled back again.
                        await self.client.rollback()
        finally:
            connections.reset(self._token)
            self._request._transaction.release()


class OneConnectionPerOperation(SchemaExtension):
    """Around each query's and mutation's execution: its pooled clients replaced by
    RequestConnections (see the module). Listed first, so that it is outermost. `wait_seconds`
    bounds the wait of one of the operation's transactions for another (the pool's timeout)."""

    def __init__(self, *, wait_seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._wait_seconds = wait_seconds

    async def on_execute(self) -> AsyncIterator[None]:
        if self.execution_context.operation_type is OperationType.SUBSCRIPTION:
            yield
            return
        scoped: list[tuple[RequestConnection, ConnectionToken]] = []
        for name in _connection_names():
            pooled = connections.get(name)
            if type(pooled) is RequestConnection or not _is_pool_client(pooled):
                continue
            request = RequestConnection(pooled, wait_seconds=self._wait_seconds)
            scoped.append((request, connections.set(name, request)))
        try:
            yield
        finally:
            for request, token in reversed(scoped):
                connections.reset(token)
                await request.close()


def _connection_names() -> list[str]:
    try:
        return list(connections.db_config)
    except ConfigurationError:  # Tortoise is not initialised: nothing to scope
        return []


def _is_pool_client(client: object) -> bool:
    return isinstance(client, AsyncpgDBClient) and not isinstance(client, TransactionWrapper)
