"""The boards' side of Redis: the only module of the leaderboards that sends Redis commands.
The Lua scripts and the calls that run them, the reads, and the optimistic transactions
(WATCH, read, MULTI/EXEC) the rebuilds and the challenge boards write with. The other modules
decide what to read and write; this one talks to Redis (key names: `keys.BoardKey`, built by
`gamification.redis_keys`, all under one hash tag so that a script or a transaction may touch
any of them together on a Redis Cluster).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError, WatchError

from gamification import redis_keys
from gamification.leaderboards.keys import BoardKey, Score, member_tag_suffix, shard_of

logger = logging.getLogger("loyalty.leaderboards")

# Optimistic transactions retried this often before giving up (counted as missed).
ATTEMPTS: Final = 20

T = TypeVar("T")

# --- scripts ---------------------------------------------------------------------------------

# Adds a member's next entries to their buckets in one round trip, atomically (what
# `Writes.set_state` does for one bucket, for each). KEYS: the shard's seq hash, then per bucket
# its states hash and its sorted set. ARGV: member id, first and last seq, the member part of
# the tag, then per bucket the delta, the time it was reached (ms) and the bucket's expiry
# (unix s, 0: never). Returns -1 when applied (or applied already), else the seq Redis had
# applied (not first - 1). Scores stay exact: Lua numbers are doubles, exact below 2^53, like
# the sorted sets' scores.
_APPLY_SCRIPT: Final = """
local member = ARGV[1]
local applied = tonumber(redis.call('HGET', KEYS[1], member) or '0')
if applied >= tonumber(ARGV[3]) then return -1 end
if applied ~= tonumber(ARGV[2]) - 1 then return applied end
for i = 0, (#KEYS - 1) / 2 - 1 do
  local states, zset = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  local points, reached = tonumber(ARGV[5 + 3 * i]), tonumber(ARGV[6 + 3 * i])
  local expire = tonumber(ARGV[7 + 3 * i])
  local old = redis.call('HGET', states, member)
  local old_tag = nil
  if old then
    local colon = string.find(old, ':', 1, true)
    local old_reached = tonumber(string.sub(old, colon + 1))
    points = points + tonumber(string.sub(old, 1, colon - 1))
    if old_reached > reached then reached = old_reached end
    old_tag = string.format('%013d', 10000000000000 - old_reached) .. ARGV[4]
  end
  local tag = string.format('%013d', 10000000000000 - reached) .. ARGV[4]
  redis.call('HSET', states, member, string.format('%d:%d', points, reached))
  if old_tag and (old_tag ~= tag or points <= 0) then redis.call('ZREM', zset, old_tag) end
  if points > 0 then redis.call('ZADD', zset, string.format('%d', points), tag) end
  if expire > 0 then
    redis.call('EXPIREAT', zset, expire)
    redis.call('EXPIREAT', states, expire)
  end
end
redis.call('HSET', KEYS[1], member, ARGV[3])
return -1
"""

# A member's place and neighbours in one round trip. KEYS: the member's states hash, the sorted
# set; ARGV: member id, above, below. Replies {total}, unknown member; {total, state}, not
# ranked; {total, state, 0-based rank, 0-based rank of the window's first, window WITHSCORES}.
# The tag is built as `keys.member_tag` builds it (fixed width, so the formats must match).
_POSITION_SCRIPT: Final = """
local total = redis.call('ZCARD', KEYS[2])
local state = redis.call('HGET', KEYS[1], ARGV[1])
if not state then return {total} end
local colon = string.find(state, ':', 1, true)
if tonumber(string.sub(state, 1, colon - 1)) <= 0 then return {total, state} end
local tag = string.format('%013d:%010d',
  10000000000000 - tonumber(string.sub(state, colon + 1)), 10000000000 - tonumber(ARGV[1]))
local rank = redis.call('ZREVRANK', KEYS[2], tag)
if not rank then return {total, state} end
local above, below = tonumber(ARGV[2]), tonumber(ARGV[3])
local first = math.max(0, rank - above)
local window = {}
if above + below > 0 then
  window = redis.call('ZREVRANGE', KEYS[2], first, rank + below, 'WITHSCORES')
end
return {total, state, rank, first, window}
"""
_SCRIPT_SHAS: Final[dict[str, str]] = {}


async def _run_script(
    redis: Redis, script: str, keys: Sequence[str], args: Sequence[str | int]
) -> Any:
    """EVALSHA, loading the script on first use (one round trip once Redis has it)."""
    sha = _SCRIPT_SHAS.get(script)
    if sha is None:
        sha = _SCRIPT_SHAS[script] = hashlib.sha1(
            script.encode(), usedforsecurity=False
        ).hexdigest()
    try:
        return await redis.evalsha(sha, len(keys), *keys, *args)
    except NoScriptError:  # a new or restarted Redis: EVAL sends it and Redis caches it
        return await redis.eval(script, len(keys), *keys, *args)


async def add_entries(
    redis: Redis,
    member_id: int,
    first: int,
    last: int,
    deltas: Mapping[BoardKey, Score],
    margin: timedelta,
) -> int:
    """Add the deltas of a member's entries `first`..`last` (seqs) to their buckets, unless
    Redis has applied them already: -1 when done (or done already), else the last seq Redis
    had applied (before `first` - 1: a gap; at or after it: some were applied meanwhile)."""
    keys = [redis_keys.board_seq(shard_of(member_id))]
    args: list[str | int] = [str(member_id), first, last, member_tag_suffix(member_id)]
    for key in sorted(deltas):
        expires_at = key.expires_at(margin)
        keys += [key.states(shard_of(member_id)), key.zset]
        args += [
            deltas[key].points,
            deltas[key].reached_ms,
            int(expires_at.timestamp()) if expires_at is not None else 0,
        ]
    return int(await _run_script(redis, _APPLY_SCRIPT, keys, args))


async def position(
    redis: Redis, key: BoardKey, member_id: int, above: int, below: int
) -> list[Any]:
    """A member's state, the total, their rank and the window around it, read at one instant
    (see `_POSITION_SCRIPT` for the reply)."""
    keys = (key.states(shard_of(member_id)), key.zset)
    reply: list[Any] = await _run_script(redis, _POSITION_SCRIPT, keys, (member_id, above, below))
    return reply


# --- reads -----------------------------------------------------------------------------------


async def page(
    redis: Redis, key: BoardKey, offset: int, limit: int
) -> tuple[int, list[tuple[str, float]]]:
    """The sorted set's size and `limit` (tag, score) pairs after the first `offset`."""
    if limit == 0:  # ZREVRANGE 0 -1 would be the whole set
        total: Any = await redis.zcard(key.zset)
        return int(total), []
    reads = redis.pipeline(transaction=False)
    reads.zcard(key.zset)
    reads.zrevrange(key.zset, offset, offset + limit - 1, withscores=True)
    total, replies = await reads.execute()
    return int(total), list(replies)


async def window(redis: Redis, key: BoardKey, start: int, stop: int) -> list[tuple[str, float]]:
    """The (tag, score) pairs ranked `start`..`stop` (0-based, inclusive)."""
    replies: Any = await redis.zrevrange(key.zset, start, stop, withscores=True)
    return list(replies)


async def hash_fields(
    redis: Redis, wanted: Sequence[tuple[str, Sequence[int] | None]]
) -> list[dict[int, str]]:
    """For each (hash, members): the members' fields found in the hash, or all of its fields
    when members is None. One round trip."""
    reads = redis.pipeline(transaction=False)
    for name, members in wanted:
        if members is None:
            reads.hgetall(name)
        else:
            reads.hmget(name, [str(member) for member in members])
    found = []
    for (_, members), reply in zip(wanted, await reads.execute(), strict=True):
        if members is None:
            found.append({int(member): raw for member, raw in reply.items()})
        else:
            found.append({m: raw for m, raw in zip(members, reply, strict=True) if raw is not None})
    return found


async def zscores(
    redis: Redis, lookups: Sequence[tuple[str, Sequence[str]]]
) -> list[list[float | None]]:
    """For each (sorted set, tags): the tags' scores (None where absent). One round trip."""
    reads = redis.pipeline(transaction=False)
    for zset, tags in lookups:
        reads.zmscore(zset, list(tags))
    return list(await reads.execute())


async def board_key_names(redis: Redis, match: str = "*") -> AsyncIterator[str]:
    """The names of the board keys Redis holds that match `match` (after the common prefix)."""
    async for name in redis.scan_iter(match=f"{redis_keys.BOARDS_PREFIX}{match}", count=1000):
        yield name


async def tags_of(redis: Redis, key: BoardKey) -> AsyncIterator[str]:
    """Every tag in the bucket's sorted set."""
    async for tag, _ in redis.zscan_iter(key.zset, count=1000):
        yield tag


async def drop(redis: Redis, names: Sequence[str]) -> None:
    if names:
        await redis.unlink(*names)


# --- writes ----------------------------------------------------------------------------------


class Writes:
    """The commands of one MULTI/EXEC, gathered before it is sent (see `optimistic`)."""

    def __init__(self) -> None:
        self._queued: list[Callable[[Pipeline], object]] = []

    def __bool__(self) -> bool:
        return bool(self._queued)

    def set_seq(self, shard: int, member_id: int, seq: int | None) -> None:
        """The member's applied seq (None: none)."""
        name = redis_keys.board_seq(shard)
        if seq is None:
            self._queued.append(lambda pipe: pipe.hdel(name, str(member_id)))
        else:
            self._queued.append(lambda pipe: pipe.hset(name, str(member_id), str(seq)))

    def set_state(
        self,
        key: BoardKey,
        member_id: int,
        new: Score | None,
        stale_tags: Iterable[str],
        margin: timedelta,
    ) -> None:
        """Make `new` the member's state on `key` (None: no state), removing the other tags
        the sorted set may hold for them."""
        states = key.states(shard_of(member_id))
        if new is None:
            self._queued.append(lambda pipe: pipe.hdel(states, str(member_id)))
        else:
            encoded = new.encode()
            self._queued.append(lambda pipe: pipe.hset(states, str(member_id), encoded))
        keep = new.tag(member_id) if new is not None and new.ranked else None
        self.remove_tags(key, [tag for tag in set(stale_tags) if tag != keep])
        if new is not None and keep is not None:
            points = new.points
            self._queued.append(lambda pipe: pipe.zadd(key.zset, {keep: points}))
        expires_at = key.expires_at(margin)
        if expires_at is not None:
            self._expire(key.zset, expires_at)
            self._expire(states, expires_at)

    def remove_tags(self, key: BoardKey, tags: Iterable[str]) -> None:
        remove = sorted(tags)
        if remove:
            self._queued.append(lambda pipe: pipe.zrem(key.zset, *remove))

    def _expire(self, name: str, at: datetime) -> None:
        self._queued.append(lambda pipe: pipe.expireat(name, at))

    def queue_on(self, pipe: Pipeline) -> None:
        for command in self._queued:
            command(pipe)


async def optimistic(
    redis: Redis,
    watch: Sequence[str],
    attempt: Callable[[], Awaitable[tuple[T, Writes]]],
    *,
    write: bool,
    contended: str,
) -> T:
    """Run `attempt` (its reads, and the writes they call for) and, with `write`, send its
    writes in one MULTI/EXEC that fails if a key of `watch` changed since before the reads:
    then all again, up to ATTEMPTS times. Without `write` nothing is watched nor written.

    Raises WatchError(`contended`) when the watched keys kept changing, RedisError."""
    async with redis.pipeline(transaction=True) as pipe:
        for _ in range(ATTEMPTS):
            try:
                if write and watch:
                    await pipe.watch(*watch)
                result, writes = await attempt()
                if not write or not writes:
                    return result
                pipe.multi()
                writes.queue_on(pipe)
                await pipe.execute()
                return result
            except WatchError:
                continue
    raise WatchError(contended)
