"""What differs between a board in Redis and its source of truth (the ledger for points and
causes, the progress table for challenges), and the writes that make Redis agree. Shared by
`reconcile` and `challenge_boards`, which read their sources and call these."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from redis.asyncio import Redis

from gamification import redis_keys
from gamification.leaderboards import store
from gamification.leaderboards.keys import (
    CHALLENGE_PREFIX,
    BoardKey,
    Score,
    member_of_tag,
    shard_of,
)


@dataclass(frozen=True, slots=True)
class Difference:
    """A member whose place on a bucket differs from what the ledger says."""

    key: BoardKey
    member_id: int
    ledger: Score | None  # None: the member has no counting entry there
    board: Score | None  # None: Redis holds no state for the member there
    problem: str

    def __str__(self) -> str:
        # A challenge board's source of truth is the progress table (see challenge_boards).
        source = "progress" if self.key.board.startswith(CHALLENGE_PREFIX) else "ledger"
        return (
            f"{self.key.board} {self.key.bucket} member {self.member_id}: {self.problem}; "
            f"{source} {self.ledger or 'nothing'}, board {self.board or 'nothing'}"
        )


@dataclass
class LedgerView:
    """One member as the source of truth has it: their account's last seq (0 for challenge
    boards, which keep none) and their scores."""

    seq: int
    scores: dict[BoardKey, Score] = field(default_factory=dict)


async def redis_states(
    redis: Redis, shard: int, keys: Sequence[BoardKey], only: Collection[int] | None
) -> dict[BoardKey, dict[int, Score]]:
    """The states Redis holds for a shard's members (or just `only`) on these buckets."""
    wanted = sorted(only) if only is not None else None
    replies = await store.hash_fields(redis, [(key.states(shard), wanted) for key in keys])
    return {
        key: {member: Score.decode(raw) for member, raw in reply.items()}
        for key, reply in zip(keys, replies, strict=True)
    }


async def differences(
    redis: Redis,
    keys: Sequence[BoardKey],
    members: Collection[int],
    views: dict[int, LedgerView],
    found: dict[BoardKey, dict[int, Score]],
) -> list[Difference]:
    """Compare, for each bucket and member, the source's score (`views`) with the state Redis
    holds (`found`) and with what the sorted set holds."""
    # Which tags each sorted set should hold, and which it might: ask for both at once.
    lookups: dict[BoardKey, list[str]] = {}
    for key in keys:
        tags = {
            score.tag(member)
            for member in members
            for score in (_ledger_score(views, member, key), found[key].get(member))
            if score is not None
        }
        if tags:
            lookups[key] = sorted(tags)
    replies = await store.zscores(redis, [(key.zset, tags) for key, tags in lookups.items()])
    in_zset = {
        key: dict(zip(tags, reply, strict=True))
        for (key, tags), reply in zip(lookups.items(), replies, strict=True)
    }
    found_differences = []
    for key in keys:
        for member in sorted(members):
            want = _ledger_score(views, member, key)
            have = found[key].get(member)
            problem = _problem(member, want, have, in_zset.get(key, {}))
            if problem:
                found_differences.append(Difference(key, member, want, have, problem))
    return found_differences


def _ledger_score(views: dict[int, LedgerView], member: int, key: BoardKey) -> Score | None:
    view = views.get(member)
    return view.scores.get(key) if view is not None else None


def _problem(
    member: int, want: Score | None, have: Score | None, zscores: dict[str, float | None]
) -> str:
    if want != have:
        if have is None:
            return "missing from the board"
        if want is None:
            return "not in the ledger"
        return "different score or time"
    if want is None:
        return ""
    # The state is right; the sorted set must hold its tag with its score, or nothing.
    score = zscores.get(want.tag(member))
    if want.ranked and (score is None or int(score) != want.points):
        return "sorted set out of step"
    if not want.ranked and score is not None:
        return "ranked while not positive"
    return ""


def write_fixes(writes: store.Writes, differences: Iterable[Difference], margin: timedelta) -> None:
    """Queue what makes each difference's bucket say what the source of truth says."""
    for difference in differences:
        stale = {
            score.tag(difference.member_id)
            for score in (difference.ledger, difference.board)
            if score is not None
        }
        writes.set_state(difference.key, difference.member_id, difference.ledger, stale, margin)


async def sweep(
    redis: Redis,
    key: BoardKey,
    *,
    write: bool,
    watched: Callable[[int], str] = redis_keys.board_seq,
) -> list[Difference]:
    """Sorted-set members that no member's state accounts for (left by a bug or by hand);
    with `write`, removed. `watched(shard)` names the key every writer of the shard's states
    changes. Raises WatchError, RedisError."""
    by_shard: dict[int, list[str]] = defaultdict(list)
    async for tag in store.tags_of(redis, key):
        by_shard[shard_of(member_of_tag(tag))].append(tag)
    strays: list[Difference] = []
    for shard, tags in sorted(by_shard.items()):

        async def attempt(
            shard: int = shard, tags: list[str] = tags
        ) -> tuple[list[Difference], store.Writes]:
            members = sorted({member_of_tag(tag) for tag in tags})
            [raw] = await store.hash_fields(redis, [(key.states(shard), members)])
            states = {member: Score.decode(value) for member, value in raw.items()}
            stray_tags = [tag for tag in tags if not _accounted_for(tag, states)]
            writes = store.Writes()
            writes.remove_tags(key, stray_tags)
            found = [
                Difference(
                    key,
                    member_of_tag(tag),
                    None,
                    states.get(member_of_tag(tag)),
                    f"stray sorted-set entry {tag}",
                )
                for tag in stray_tags
            ]
            return found, writes

        strays.extend(
            await store.optimistic(
                redis,
                [watched(shard)],
                attempt,
                write=write,
                contended=f"shard {shard}: the boards kept changing",
            )
        )
    return strays


def _accounted_for(tag: str, states: dict[int, Score]) -> bool:
    """Whether the member's state on the board says the sorted set holds `tag`."""
    state = states.get(member_of_tag(tag))
    return state is not None and state.ranked and state.tag(member_of_tag(tag)) == tag
