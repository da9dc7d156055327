"""Every Redis key and pub/sub channel name the service uses, in one place. A leaf: it imports
nothing of the project, so that any module that talks to Redis may name its keys from here.

Who uses what (one module per use talks to Redis):
- leaderboards, `gamification.leaderboards.store`: `{lb}:…`
- kiosk redemption requests, `channels.redemption_requests`: `{rr}:…`
- rate limits, `schema.rate_limits`: `ratelimit:…`
- documents registered by clients (automatic persisted queries), `server.persisted_queries`:
  `apq:…`
- versions of what members see, `gamification.view_versions`, and the home-screen responses
  kept under them, `server.response_cache`: `{view}:…`
- real-time notices, published by `gamification.events.realtime`, read by `server.pubsub`:
  the channels `rt:<namespace>:…`
- device revocations, published by `gamification.stores.device_cache`, heard by every
  process's `server.pubsub.Broker`: the channel `rt:<namespace>:devices:revoked`

Redis Cluster: the keys that one Lua script, MULTI/EXEC or WATCH uses together share a hash tag
(the part in braces), so that they hash to one slot:
- `{lb}`: every leaderboard key. One script run adds a member's entries to all their boards
  (points, this week, this month, a cause) and moves their shard's applied seq; a rebuild
  WATCHes that seq and rewrites states and sorted sets of several boards in one MULTI/EXEC. So
  the boards live in one slot (one node of a cluster): exactness needs them together.
- `{rr}`: kiosk redemption requests. A new request's hash and the member's index of requests
  are written in one MULTI/EXEC.
- `{view}`: a home-screen lookup reads the member's version, the program's version and the
  kept response in one MGET.
- Rate-limit counters and persisted queries carry no tag: each key is used on its own.

Pub/sub channels are not keys: a channel is shared by every database of a Redis server (and by
a whole cluster), so their names carry the deployment's namespace
(`LOYALTY_REDIS_CHANNEL_NAMESPACE`): two deployments, or test runs, on one Redis never hear
each other. Keys are kept apart by the Redis database in `LOYALTY_REDIS_URL`.
"""

from __future__ import annotations

from typing import Final

# --- leaderboards --------------------------------------------------------------------------

BOARDS_PREFIX: Final = "{lb}:"
BOARD_SEQ_PREFIX: Final = f"{BOARDS_PREFIX}seq:"


def board_zset(board: str, bucket: str) -> str:
    """A board's sorted set in one period (bucket)."""
    return f"{BOARDS_PREFIX}{board}:{bucket}:z"


def board_states(board: str, bucket: str, shard: int) -> str:
    """A board's member states in one period (bucket), for one shard of members."""
    return f"{BOARDS_PREFIX}{board}:{bucket}:s:{shard}"


def board_seq(shard: int) -> str:
    """The last ledger seq applied to the boards, per member of one shard."""
    return f"{BOARD_SEQ_PREFIX}{shard}"


# --- kiosk redemption requests -------------------------------------------------------------

REQUESTS_PREFIX: Final = "{rr}:"


def request(request_id: str) -> str:
    return f"{REQUESTS_PREFIX}{request_id}"


def request_reference(device_id: int, reference: str) -> str:
    """The request a kiosk's own reference made (so a retry gets it back)."""
    return f"{REQUESTS_PREFIX}ref:{device_id}:{reference}"


def member_requests(member_id: int) -> str:
    return f"{REQUESTS_PREFIX}member:{member_id}"


# --- rate limits ---------------------------------------------------------------------------


def rate_limit_counter(operation: str, counter: str, window: int) -> str:
    """One counter (`member:<id>`, `device:<id>`, `address:<ip>`) of one operation in one
    fixed window (the window's number since the epoch)."""
    return f"ratelimit:{operation}:{counter}:{window}"


# --- persisted queries ---------------------------------------------------------------------


def persisted_query(sha256: str) -> str:
    """A GraphQL document a client registered, by its SHA-256 (hex)."""
    return f"apq:{sha256}"


# --- what members see ----------------------------------------------------------------------

VIEWS_PREFIX: Final = "{view}:"


def member_view_version(member_id: int) -> str:
    """The version of what the member sees (a random token, see gamification.view_versions)."""
    return f"{VIEWS_PREFIX}m:{member_id}"


def program_view_version() -> str:
    """The version of the program's configuration."""
    return f"{VIEWS_PREFIX}program"


def home_response(member_id: int, fingerprint: str) -> str:
    """A member's response to one registered query with one set of variables (fingerprint)."""
    return f"{VIEWS_PREFIX}r:{member_id}:{fingerprint}"


# --- pub/sub channels ----------------------------------------------------------------------

CHANNEL_PREFIX: Final = "rt:"


def _channels(namespace: str) -> str:
    return f"{CHANNEL_PREFIX}{namespace}:"


def control_channel(namespace: str) -> str:
    """Subscribed from the start by every process, so that its reader always has a connection."""
    return f"{_channels(namespace)}control"


def device_revocations_channel(namespace: str) -> str:
    """A revoked device's id: every process evicts it from its cache of active devices."""
    return f"{_channels(namespace)}devices:revoked"


def member_channel(namespace: str, member_id: int) -> str:
    return f"{_channels(namespace)}member:{member_id}"


def leaderboard_channel(namespace: str, board: str, period: str) -> str:
    return f"{_channels(namespace)}lb:{board}:{period}"


def cause_channel(namespace: str, cause_id: int) -> str:
    return f"{_channels(namespace)}cause:{cause_id}"


def request_channel(namespace: str, request_id: str) -> str:
    return f"{_channels(namespace)}rr:{request_id}"
