"""The one Schema: every domain's queries and mutations merged, with the house extensions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from functools import partial
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    MaskErrors,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from gamification.pagination import check_page_size
from schema.causes.mutations import CauseMutations
from schema.causes.queries import CauseQueries
from schema.causes.types import CauseType, DonationType, MatchingCampaignType
from schema.context import Info
from schema.descriptions import describe_common
from schema.error_contract import ErrorContract, complete
from schema.errors import should_mask_error
from schema.gamification.eco_action_kinds import EcoActionKindMutations, EcoActionKindQueries
from schema.gamification.mutations import GamificationMutations
from schema.gamification.queries import GamificationQueries
from schema.kiosk.mutations import KioskMutations
from schema.kiosk.requests import RedemptionRequestMutations, RedemptionRequestSubscriptions
from schema.kiosk.types import PointsHoldType
from schema.leaderboards.extension import LeaderboardUpdates
from schema.leaderboards.mutations import LeaderboardMutations
from schema.leaderboards.queries import LeaderboardQueries
from schema.limits import (
    RefuseNulCharacters,
    operation_timeout,
    query_limits,
    without_suggestions,
)
from schema.members.mutations import MemberMutations
from schema.members.queries import MemberQueries
from schema.members.types import MemberType
from schema.notifications.mutations import NotificationMutations
from schema.notifications.subscriptions import NotificationSubscriptions
from schema.notifications.types import NotificationType
from schema.persisted import AllowListOnly
from schema.points.mutations import PointsMutations
from schema.points.types import LedgerEntryType, PurchaseType
from schema.privacy.mutations import PrivacyMutations
from schema.rate_limits import limit_mutations
from schema.realtime.extension import RealtimeNotices
from schema.realtime.subscriptions import RealtimeSubscriptions
from schema.relay import Node, resolve_node
from schema.rewards.mutations import RewardMutations
from schema.rewards.queries import RewardQueries
from schema.rewards.types import RedemptionType, RewardType
from schema.stores.mutations import StoreMutations
from schema.stores.queries import StoreQueries
from schema.stores.types import DeviceType, StoreType
from schema.view_versions import ViewVersionBumps
from schema.webhooks.mutations import WebhookMutations
from schema.webhooks.queries import WebhookQueries
from schema.webhooks.types import WebhookDeliveryType, WebhookEndpointType
from server.settings import PersistedQueryMode, Settings


@strawberry.type
class NodeQueries:
    @strawberry.field(
        description="Any object by its global ID; null when it does not exist or is not yours."
    )
    async def node(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A global ID.")],
    ) -> Node | None:
        return await resolve_node(info, id)

    @strawberry.field(
        description="Objects by their global IDs, in the order asked; null for each that does "
        "not exist or is not yours. At most `LOYALTY_MAX_PAGE_SIZE` at once."
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[list[strawberry.ID], strawberry.argument(description="Global IDs.")],
    ) -> list[Node | None]:
        check_page_size(len(ids), info.context.settings.max_page_size)
        return list(await asyncio.gather(*(resolve_node(info, id) for id in ids)))


Query = merge_types(
    "Query",
    (
        NodeQueries,
        MemberQueries,
        StoreQueries,
        RewardQueries,
        CauseQueries,
        LeaderboardQueries,
        GamificationQueries,
        EcoActionKindQueries,
        WebhookQueries,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        MemberMutations,
        StoreMutations,
        PointsMutations,
        RewardMutations,
        KioskMutations,
        RedemptionRequestMutations,
        CauseMutations,
        LeaderboardMutations,
        GamificationMutations,
        EcoActionKindMutations,
        NotificationMutations,
        PrivacyMutations,
        WebhookMutations,
    ),
)
Subscription = merge_types(
    "Subscription",
    (RealtimeSubscriptions, RedemptionRequestSubscriptions, NotificationSubscriptions),
)
# Counted per call in Redis (see the module): logIn, signUp, redeemReward, recordPurchase, …
limit_mutations(Mutation)

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
    NotificationType,
    WebhookEndpointType,
    WebhookDeliveryType,
]


class LoyaltySchema(strawberry.Schema):
    hide_suggestions = False

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if self.hide_suggestions:
                error.message = without_suggestions(error.message)
            if error.path is None:
                # A refusal raised before execution never reaches ErrorContract's exit: here.
                # (A resolver's error is completed there, once masking has given its code.)
                complete(error)
        # Strawberry logs every error with a traceback; ours are expected (auth, validation,
        # domain failures) and the unexpected ones are logged where they are masked
        # (schema.errors.should_mask_error), so there is nothing left to log here.
        return None


def build_schema(
    settings: Settings, *, outermost: Sequence[Callable[[], SchemaExtension]] = ()
) -> strawberry.Schema:
    """The schema; `outermost` extensions wrap all of the house's (the view's
    one-connection-per-operation scope, server.request_connection)."""
    # Factories, not instances: Strawberry builds extensions per request. The parser and
    # validation caches live at module level, keyed by size, so they survive across requests.
    extensions: list[Callable[[], SchemaExtension]] = [
        *outermost,
        # Every top-level error leaves with its code and `retryable` (schema.error_contract).
        ErrorContract,
        *query_limits(settings),
        RefuseNulCharacters,
        partial(MaskErrors, should_mask_error=should_mask_error),
        partial(ParserCache, maxsize=1024),
        partial(ValidationCache, maxsize=1024),
        # After commit, for every mutation: real-time notices (listed first so that they go
        # out after the boards are updated), then the leaderboards (see the modules).
        RealtimeNotices,
        LeaderboardUpdates,
        # After commit, before the response: what the writes changed gets new versions, so that
        # the home-screen cache (server.response_cache) never serves what they replaced.
        ViewVersionBumps,
        # Last: innermost around execution (see the function).
        operation_timeout(settings),
    ]
    if settings.persisted_queries is PersistedQueryMode.ALLOWLIST:
        # First: a document outside the registered set is refused before it is parsed.
        extensions.insert(0, AllowListOnly)
    schema = LoyaltySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=NODE_TYPES,
        extensions=extensions,
    )
    schema.hide_suggestions = not settings.field_suggestions_enabled
    describe_common(schema._schema)
    return schema
