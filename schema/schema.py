"""The one Schema: every domain's queries and mutations merged, with the house extensions."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from schema.causes.mutations import CauseMutations
from schema.causes.queries import CauseQueries
from schema.causes.types import CauseType, DonationType, MatchingCampaignType
from schema.context import Info
from schema.errors import should_mask_error
from schema.kiosk.mutations import KioskMutations
from schema.kiosk.types import PointsHoldType
from schema.leaderboards.extension import LeaderboardUpdates
from schema.leaderboards.mutations import LeaderboardMutations
from schema.leaderboards.queries import LeaderboardQueries
from schema.members.mutations import MemberMutations
from schema.members.queries import MemberQueries
from schema.members.types import MemberType
from schema.points.mutations import PointsMutations
from schema.points.types import LedgerEntryType, PurchaseType
from schema.relay import Node, resolve_node
from schema.rewards.mutations import RewardMutations
from schema.rewards.queries import RewardQueries
from schema.rewards.types import RedemptionType, RewardType
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


Query = merge_types(
    "Query",
    (NodeQueries, MemberQueries, StoreQueries, RewardQueries, CauseQueries, LeaderboardQueries),
)
Mutation = merge_types(
    "Mutation",
    (
        MemberMutations,
        StoreMutations,
        PointsMutations,
        RewardMutations,
        KioskMutations,
        CauseMutations,
        LeaderboardMutations,
    ),
)

NODE_TYPES = [
    MemberType,
    StoreType,
    DeviceType,
    LedgerEntryType,
    PurchaseType,
    RewardType,
    RedemptionType,
    PointsHoldType,
    CauseType,
    MatchingCampaignType,
    DonationType,
]


class LoyaltySchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry logs every error with a traceback; ours are expected (auth, validation,
        # domain failures) and the unexpected ones are logged where they are masked
        # (schema.errors.should_mask_error), so there is nothing left to log here.
        return None


def build_schema(settings: Settings) -> strawberry.Schema:
    # Factories, not instances: Strawberry builds extensions per request. The parser and
    # validation caches live at module level, keyed by size, so they survive across requests.
    extensions: list[Callable[[], SchemaExtension]] = [
        partial(MaskErrors, should_mask_error=should_mask_error),
        partial(ParserCache, maxsize=1024),
        partial(ValidationCache, maxsize=1024),
        # After-commit leaderboard updates for every mutation (see the module).
        LeaderboardUpdates,
    ]
    if not settings.introspection_enabled:
        extensions.append(partial(AddValidationRules, [NoSchemaIntrospectionCustomRule]))
    return LoyaltySchema(query=Query, mutation=Mutation, types=NODE_TYPES, extensions=extensions)
