"""The one Schema: every domain's queries and mutations merged, with the house extensions."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.tools import merge_types

from schema.context import Info
from schema.errors import should_mask_error
from schema.members.mutations import MemberMutations
from schema.members.queries import MemberQueries
from schema.members.types import MemberType
from schema.points.mutations import PointsMutations
from schema.points.types import LedgerEntryType, PurchaseType
from schema.relay import Node, resolve_node
from schema.stores.mutations import StoreMutations
from schema.stores.queries import StoreQueries
from schema.stores.types import DeviceType, StoreType
from server.settings import Settings


@strawberry.type
class NodeQueries:
    @strawberry.field(
        description="Any object by its global ID; null when it does not exist or is not yours."
    )
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await resolve_node(info, id)


Query = merge_types("Query", (NodeQueries, MemberQueries, StoreQueries))
Mutation = merge_types("Mutation", (MemberMutations, StoreMutations, PointsMutations))

NODE_TYPES = [MemberType, StoreType, DeviceType, LedgerEntryType, PurchaseType]


def build_schema(settings: Settings) -> strawberry.Schema:
    # Factories, not instances: Strawberry builds extensions per request. The parser and
    # validation caches live at module level, keyed by size, so they survive across requests.
    extensions: list[Callable[[], SchemaExtension]] = [
        partial(MaskErrors, should_mask_error=should_mask_error),
        partial(ParserCache, maxsize=1024),
        partial(ValidationCache, maxsize=1024),
    ]
    if not settings.introspection_enabled:
        extensions.append(partial(AddValidationRules, [NoSchemaIntrospectionCustomRule]))
    return strawberry.Schema(
        query=Query, mutation=Mutation, types=NODE_TYPES, extensions=extensions
    )
