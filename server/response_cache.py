"""The app's home screen, kept ready per member: a response cache with exact invalidation.

The home screen (the registered query `HomeScreen`: points and what expires soon, tier progress,
challenges with progress, badges, rank) costs ~160 resolved fields and five statements. Most of
it changes only when the member's own data or the program's configuration does, and both are
versioned (`gamification.view_versions`): every write bumps the versions of the members it
touched after its commit, before its response is sent, and every configuration change bumps the
program's. So a member's response is kept in Redis, labelled with the versions it was computed
under, and served again while they are unchanged:

- One round trip looks it up: an MGET of the member's version, the program's version and the
  kept response (the `{view}` keys of `gamification.redis_keys`), before any execution and
  without a database connection. The label is compared with the versions just read.
- The versions are read before the response is computed, and a write bumps them after its
  commit: a response that missed a write is labelled with versions the write then replaced, so
  it is never served. After a member's own mutation returns, their next read misses and shows
  it (read-your-writes).
- Time: the label also holds the minute (UTC) the versions were read in, and a response is only
  served within that minute. Everything time-dependent on the home screen moves on whole
  minutes: challenge windows and streaks on local days, weeks and months (every time zone is a
  whole number of minutes from UTC), tier windows on UTC days, lots expiring at midnight UTC
  (so `expiringSoon(days: 30)` gains a lot at midnight too).
- Live fields (`LIVE_FIELDS`: the rank, which moves when other members earn) are never served
  from the copy: a small document holding only their selections is derived once per document
  (`Plan.live_query`), executed on every hit (Redis only, no database) and spliced in at the
  same paths.
- A copy is kept at most `LOYALTY_HOME_CACHE_SECONDS` (and never past its minute): the bound
  on staleness when a process dies between a commit and its bump. Bumping a version stored in
  the database inside the write's transaction would close that gap exactly, at the cost of one
  more statement in every write (the writes are the scarcer capacity); see docs/operations.md.

Only what is certainly member-scoped is cached: registered operations named in
`CACHED_OPERATIONS` (every field they select is the member's own or the program's, see
tests/server/test_response_cache.py), queries only, for members' tokens only (the token is
verified as for any request: a refused token never reaches the cache), and only responses
without errors. Anything else runs as usual. A Redis failure is logged and the request runs as
usual too.

A process that sees a new program version drops its per-process configuration caches
(`gamification.program_cache`) before computing: a response labelled with the new version is
never computed from configuration older than it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from inspect import isawaitable
from typing import Any, Final

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    execute,
    parse,
    print_ast,
    visit,
)
from graphql.language import Visitor
from redis.asyncio import Redis
from redis.exceptions import RedisError
from strawberry.extensions import MaskErrors
from strawberry.http import GraphQLRequestData
from strawberry.types.execution import ExecutionResult

from gamification import program_cache, redis_keys, view_versions
from gamification.actors import ActorKind
from gamification.members.models import Member
from schema.context import Context
from schema.errors import should_mask_error
from server.settings import Settings

logger = logging.getLogger("loyalty.response_cache")

# Fields read afresh on every request, as (type, field): what other members' writes move.
# A live field must resolve from its parent's id and Redis alone: on a hit, `me` stands for the
# member without reading their row (see `_member_without_row`).
LIVE_FIELDS: Final = frozenset({("Member", "rank")})
# Fields of the kept copy that no version covers, shown as of when the copy was made (at most
# LOYALTY_HOME_CACHE_SECONDS old): a badge's rarity is the share of all members holding it,
# moved by every member's award. The per-process badge counts it reads were already up to
# `program_cache_seconds` old.
BOUNDED_FIELDS: Final = frozenset({("Badge", "rarity")})
# The registered operations whose responses are kept (see the module).
CACHED_OPERATIONS: Final = frozenset({"HomeScreen"})
MINUTE: Final = 60

Run = Callable[[GraphQLRequestData], Awaitable[ExecutionResult]]
Path = tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """How one registered document is served from the cache."""

    document_hash: str
    operation_name: str | None
    live_query: str | None  # the live selections alone; None when there are none
    live_paths: tuple[Path, ...]  # their response keys from the root

    @cached_property
    def live_document(self) -> DocumentNode | None:
        return parse(self.live_query) if self.live_query is not None else None


class _Unsupported(Exception):
    """A live field that a plain path of object fields may not reach (a list, a fragment)."""


def plan_of(schema: GraphQLSchema, document_hash: str, document: str) -> Plan | None:
    """The plan for a document with one query; None when it cannot be cached (a mutation, a
    subscription, several operations, a fragment, a live field inside a list)."""
    tree = parse(document)
    operations = [d for d in tree.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].operation is not OperationType.QUERY:
        return None
    [operation] = operations
    name = operation.name.value if operation.name else None
    root = schema.query_type
    if root is None:
        return None
    try:
        pruned, paths = _live_selections(operation.selection_set, root, ())
    except _Unsupported:
        return None
    if pruned is None:
        return Plan(document_hash, name, None, ())
    used = _variables_in(pruned)
    live = OperationDefinitionNode(
        operation=OperationType.QUERY,
        name=operation.name,
        variable_definitions=tuple(
            d for d in operation.variable_definitions or () if d.variable.name.value in used
        ),
        directives=(),
        selection_set=pruned,
    )
    return Plan(document_hash, name, print_ast(DocumentNode(definitions=(live,))), tuple(paths))


def _live_selections(
    selections: SelectionSetNode, parent: GraphQLObjectType, path: Path
) -> tuple[SelectionSetNode | None, list[Path]]:
    """The selections that lead to live fields (None: none do), and the live fields' paths.
    Raises _Unsupported."""
    kept: list[FieldNode] = []
    paths: list[Path] = []
    for selection in selections.selections:
        if not isinstance(selection, FieldNode):
            raise _Unsupported  # a fragment: not followed (the cached operations use none)
        name = selection.name.value
        key = selection.alias.value if selection.alias else name
        if (parent.name, name) in LIVE_FIELDS:
            kept.append(selection)
            paths.append((*path, key))
            continue
        if selection.selection_set is None or name.startswith("__"):
            continue
        field = parent.fields.get(name)
        if field is None:
            continue
        field_type = field.type
        if isinstance(field_type, GraphQLNonNull):
            field_type = field_type.of_type
        in_list = isinstance(field_type, GraphQLList)
        while isinstance(field_type, GraphQLList | GraphQLNonNull):
            field_type = field_type.of_type
        if not isinstance(field_type, GraphQLObjectType):
            continue  # an interface or union: live fields are on object types
        inner, inner_paths = _live_selections(selection.selection_set, field_type, (*path, key))
        if inner is None:
            continue
        if in_list:
            raise _Unsupported
        kept.append(
            FieldNode(
                alias=selection.alias,
                name=selection.name,
                arguments=selection.arguments,
                directives=selection.directives,
                selection_set=inner,
            )
        )
        paths += inner_paths
    if not kept:
        return None, []
    return SelectionSetNode(selections=tuple(kept)), paths


def _variables_in(selections: SelectionSetNode) -> set[str]:
    used: set[str] = set()

    class Collect(Visitor):
        def enter_variable(self, node: VariableNode, *_: object) -> None:
            used.add(node.name.value)

    visit(selections, Collect())
    return used


def _fingerprint(plan: Plan, variables: Mapping[str, Any] | None) -> str:
    canonical = json.dumps(variables or {}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{plan.document_hash}\0{canonical}".encode()).hexdigest()[:32]


def _member_without_row(member_id: int) -> Member:
    """What `me` resolves to on a hit: the member's id, no row read (the live fields read
    nothing else, see LIVE_FIELDS)."""
    return Member(id=member_id)


def _splice(target: dict[str, Any], source: Mapping[str, Any] | None, path: Path) -> None:
    """Put the live value at `path` of `source` into `target` (null where the live execution
    answered null on the way)."""
    *parents, last = path
    for key in parents:
        value = source.get(key) if source is not None else None
        if value is None:
            target[key] = None
            return
        source, target = value, target[key]
    target[last] = source.get(last) if source is not None else None


def _text(value: str | bytes | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class _Lookup:
    key: str
    member_key: str | None  # set when the member had no version yet: ours is proposed
    program_key: str | None  # likewise for the program
    label: str


class HomeScreenCache:
    """Serves `CACHED_OPERATIONS` from Redis (see the module)."""

    def __init__(
        self, settings: Settings, schema: strawberry.Schema, registered: Mapping[str, str]
    ) -> None:
        self.seconds = settings.home_cache_seconds
        self._schema = schema
        self._masking = MaskErrors(should_mask_error=should_mask_error)
        self._plans: dict[str, Plan] = {}
        self._last_program_version: str | None = None
        for document_hash, document in registered.items():
            names = {
                d.name.value
                for d in parse(document).definitions
                if isinstance(d, OperationDefinitionNode) and d.name is not None
            }
            if names & CACHED_OPERATIONS:
                plan = plan_of(schema._schema, document_hash, document)
                if plan is None:
                    raise ValueError(f"{sorted(names)}: cannot be served from the cache")
                self._plans[document] = plan

    @property
    def enabled(self) -> bool:
        return self.seconds > 0

    def plan_for(self, data: GraphQLRequestData, context: Context) -> Plan | None:
        """The plan when this request may be served from the cache, else None."""
        if not self.enabled or data.query is None:
            return None
        plan = self._plans.get(data.query)
        actor = context.actor
        if plan is None or actor is None or actor.kind is not ActorKind.MEMBER:
            return None
        if data.operation_name not in (None, plan.operation_name):
            return None  # refused as usual: the document has no such operation
        return plan

    async def answer(self, data: GraphQLRequestData, context: Context, run: Run) -> ExecutionResult:
        """The response to `data`: from the cache when it may be, else `run(data)` (kept for
        the next time when it has no errors)."""
        plan = self.plan_for(data, context)
        if plan is None:
            return await run(data)
        assert context.actor is not None
        member_id = context.actor.id
        redis = context.redis
        key = redis_keys.home_response(member_id, _fingerprint(plan, data.variables))
        lookup = await self._lookup(redis, key, member_id)
        if isinstance(lookup, str):
            return await self._hit(plan, lookup, data, context)
        result = await run(data)
        if lookup is not None and result.data is not None and not result.errors:
            await self._keep(redis, lookup, result.data)
        return result

    async def _lookup(self, redis: Redis, key: str, member_id: int) -> str | _Lookup | None:
        """The kept body when its label is current; else what to keep the response under
        (None: Redis failed, keep nothing)."""
        member_key = redis_keys.member_view_version(member_id)
        program_key = redis_keys.program_view_version()
        minute = int(time.time() // MINUTE)
        try:
            found = await redis.mget(member_key, program_key, key)
        except RedisError as error:
            logger.warning("home-screen cache unavailable: %r", error)
            return None
        member_version, program_version, kept = (_text(value) for value in found)
        if program_version != self._last_program_version:
            # Another process changed the program: this one's cached configuration may be
            # older than the new version (see the module).
            program_cache.invalidate()
            self._last_program_version = program_version
        label = f"{member_version} {program_version} {minute}"
        if kept is not None and member_version is not None and program_version is not None:
            kept_label, _, body = kept.partition("\n")
            if kept_label == label:
                return body
        proposed_member = member_version is None
        proposed_program = program_version is None
        if proposed_member or proposed_program:
            label = " ".join(
                (
                    member_version or view_versions.new_version(),
                    program_version or view_versions.new_version(),
                    str(minute),
                )
            )
        return _Lookup(
            key=key,
            member_key=member_key if proposed_member else None,
            program_key=program_key if proposed_program else None,
            label=label,
        )

    async def _keep(self, redis: Redis, lookup: _Lookup, data: dict[str, Any]) -> None:
        member_version, program_version, minute = lookup.label.split(" ")
        left_in_minute = (int(minute) + 1) * MINUTE - time.time()
        milliseconds = int(min(self.seconds, left_in_minute) * 1000)
        if milliseconds <= 0:
            return  # the minute is over: the label could never match
        body = json.dumps(data, separators=(",", ":"))
        try:
            async with redis.pipeline(transaction=False) as pipe:
                # A version proposed by this reader becomes current unless a write set one
                # meanwhile (then this label never matches, as it should not).
                for proposed_key, version in (
                    (lookup.member_key, member_version),
                    (lookup.program_key, program_version),
                ):
                    if proposed_key is not None:
                        pipe.set(
                            proposed_key, version, nx=True, ex=view_versions.VERSION_TTL_SECONDS
                        )
                pipe.set(lookup.key, f"{lookup.label}\n{body}", px=milliseconds)
                await pipe.execute()
        except RedisError as error:
            logger.warning("home-screen response not kept: %r", error)

    async def _hit(
        self, plan: Plan, body: str, data: GraphQLRequestData, context: Context
    ) -> ExecutionResult:
        kept: dict[str, Any] = json.loads(body)
        if plan.live_document is None:
            return ExecutionResult(data=kept, errors=None)
        assert context.actor is not None
        context.loaders.member.prime(context.actor.id, _member_without_row(context.actor.id))
        # Straight through graphql-core: the live document is a part of a registered one, so it
        # was parsed and validated with it; it reads no database (nothing for the operation's
        # connection scope) and writes nothing. Its errors are masked as the schema's are.
        live = execute(
            self._schema._schema,
            plan.live_document,
            context_value=context,
            variable_values=data.variables,
            operation_name=data.operation_name,
        )
        if isawaitable(live):
            live = await live
        errors = self._masking._process_errors(live.errors) if live.errors else None
        for path in plan.live_paths:
            _splice(kept, live.data, path)
        return ExecutionResult(data=kept, errors=errors)
