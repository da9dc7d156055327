"""Challenge boards. Board `challenge:<id>`: members ranked by their progress in one challenge,
ALL_TIME only. The source of truth is the `challenge_progress` table (as the ledger is for
points), and a board is always recomputed from it, never incremented:

- Score: the member's progress units over all their windows of the challenge: each
  completion counts as the target, plus the progress towards the next one (none once the
  window's last completion is reached: the challenge is done there). Units are the goal's:
  events, days, streak length, or the summed amount rounded down to a whole unit. A streak
  counts as it stood at the member's last event (a broken streak shows until they act again:
  nothing is written when a day passes without activity). The score depends on the
  challenge's target and maxCompletions: changing either recomputes the board.
- Reached (the tie-break): the latest `updated_at` of the windows that score, i.e. when an
  event last counted; for a finished challenge, its completion time.
- Keys: `{lb}:challenge:<id>:all:z` and `...:all:s:<shard>`, as for the other boards; no seq.
  After commit, a member's places are recomputed from the table under WATCH of the
  challenges' states hashes of the member's shard, which every writer of those states
  changes: a writer that read the table before another commit and would write an older
  state fails its EXEC and reads again. So the live board equals a rebuild, whatever the
  order in which concurrent updates land, and a missed update (Redis down) is repaired by
  the member's next update on that board or by `loyalty rebuild-leaderboards`
  (`updates.record_challenge_progress` applies the updates).
- Hidden challenges: their board is unknown (UNKNOWN_BOARD, as for a challenge that does
  not exist) to devices and to members who have not earned the challenge, and they get no
  live `leaderboardChanged` updates; members who earned it and admins read it
  (`reads.open_board`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from decimal import ROUND_FLOOR, Decimal

from redis.asyncio import Redis

from gamification import redis_keys
from gamification.challenges import definitions as challenges
from gamification.challenges.models import Challenge, ChallengeProgress, ChallengeStatus
from gamification.leaderboards import store
from gamification.leaderboards.differences import (
    Difference,
    LedgerView,
    differences,
    redis_states,
    sweep,
    write_fixes,
)
from gamification.leaderboards.keys import (
    CHALLENGE_PREFIX,
    SHARD_BITS,
    BoardKey,
    Score,
    challenge_board_key,
    challenge_id_of,
    margin,
    ms,
    shard_of,
)


async def rebuild_challenge_board(redis: Redis, challenge_id: int) -> list[Difference]:
    """Make one challenge's board equal the progress table. Returns what was fixed.
    Raises RedisError."""
    return (await reconcile_challenge_boards(redis, write=True, only={challenge_id}))[1]


def _progress_units(
    target: Decimal, max_completions: int, current: Decimal, completions: int
) -> Decimal:
    """One window's progress: each completion counts as the target, plus the progress towards
    the next completion (none once the window's last one is reached)."""
    units = target * completions
    return units + current if completions < max_completions else units


async def _goals(challenge_ids: Collection[int]) -> dict[int, tuple[Decimal, int]]:
    """Each challenge's target and completions per window: from the cached catalog of active
    challenges, read for the others (archived, or too new for this process's copy)."""
    wanted = set(challenge_ids)
    goals: dict[int, tuple[Decimal, int]] = {}
    for challenge in await challenges.catalog(ChallengeStatus.ACTIVE):
        if challenge.id in wanted:
            goals[challenge.id] = (Decimal(challenge.target), challenge.max_completions)
    missing = wanted - set(goals)
    if missing:
        for challenge_id, target, max_completions in await Challenge.filter(
            id__in=list(missing)
        ).values_list("id", "target", "max_completions"):
            goals[challenge_id] = (Decimal(target), int(max_completions))
    return goals


async def _challenge_scores(
    shard: int, challenge_ids: Collection[int], only: Collection[int] | None
) -> dict[BoardKey, dict[int, Score]]:
    """The scores of a shard's members (or just `only`) on these challenges' boards, from the
    progress table: two queries, whatever the number of challenges and windows."""
    goals = await _goals(challenge_ids)
    rows = ChallengeProgress.filter(
        challenge_id__in=list(goals),
        member_id__gte=shard << SHARD_BITS,
        member_id__lt=(shard + 1) << SHARD_BITS,
    )
    if only is not None:
        rows = rows.filter(member_id__in=list(only))
    units: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    reached: dict[tuple[int, int], tuple[bool, int]] = {}
    for challenge_id, member_id, current, completions, updated_at in await rows.values_list(
        "challenge_id", "member_id", "current", "completions", "updated_at"
    ):
        target, max_completions = goals[challenge_id]
        window = _progress_units(target, max_completions, Decimal(current), int(completions))
        pair = (challenge_id, member_id)
        units[pair] += window
        # The latest window that scores; the latest of all when none does.
        reached[pair] = max(reached.get(pair, (False, 0)), (window != 0, ms(updated_at)))
    scores: dict[BoardKey, dict[int, Score]] = defaultdict(dict)
    for (challenge_id, member_id), total in units.items():
        points = int(total.to_integral_value(rounding=ROUND_FLOOR))
        key = challenge_board_key(challenge_id)
        scores[key][member_id] = Score(points, reached[challenge_id, member_id][1])
    return scores


async def reconcile_challenges(
    redis: Redis,
    shard: int,
    challenge_ids: Collection[int],
    *,
    only: Collection[int] | None,
    write: bool,
) -> list[Difference]:
    """Compare a shard's members (or just `only`) on these challenges' boards with the
    progress table; with `write`, make Redis agree (see the module's docstring for why the
    WATCH comes before the read). Returns the differences (fixed when writing).
    Raises WatchError, RedisError."""
    keys = [challenge_board_key(challenge_id) for challenge_id in sorted(set(challenge_ids))]
    if not keys:
        return []
    kept_for = margin()

    async def attempt() -> tuple[list[Difference], store.Writes]:
        scores = await _challenge_scores(
            shard, [challenge_id_of(key.board) or 0 for key in keys], only
        )
        views: dict[int, LedgerView] = defaultdict(lambda: LedgerView(seq=0))
        for key, by_member in scores.items():
            for member_id, score in by_member.items():
                views[member_id].scores[key] = score
        found = await redis_states(redis, shard, keys, only)
        members = set(views)
        for states in found.values():
            members |= set(states)
        found_differences = await differences(redis, keys, members, dict(views), found)
        writes = store.Writes()
        write_fixes(writes, found_differences, kept_for)
        return found_differences, writes

    return await store.optimistic(
        redis,
        [key.states(shard) for key in keys],
        attempt,
        write=write,
        contended=f"shard {shard}: the challenge boards kept changing",
    )


async def reconcile_challenge_boards(
    redis: Redis, *, write: bool, only: Collection[int] | None = None
) -> tuple[int, list[Difference]]:
    """Compare every challenge board (or just those of `only`) with the progress table, shard
    by shard, then sweep their sorted sets; with `write`, make Redis agree. Returns how many
    boards there were and the differences. Raises RedisError."""
    progress = ChallengeProgress.all()
    if only is not None:
        progress = progress.filter(challenge_id__in=list(only))
    shards: dict[int, set[int]] = defaultdict(set)
    for challenge_id, member_id in await progress.distinct().values_list(
        "challenge_id", "member_id"
    ):
        shards[shard_of(int(member_id))].add(int(challenge_id))
    boards = {challenge_id for challenge_ids in shards.values() for challenge_id in challenge_ids}
    async for name in store.board_key_names(redis, f"{CHALLENGE_PREFIX}*"):
        rest = name.removeprefix(f"{redis_keys.BOARDS_PREFIX}{CHALLENGE_PREFIX}")
        raw_id, _, tail = rest.partition(":all:")
        challenge_id = challenge_id_of(f"{CHALLENGE_PREFIX}{raw_id}")
        if challenge_id is None or (only is not None and challenge_id not in only):
            continue
        boards.add(challenge_id)
        if tail.startswith("s:") and tail.removeprefix("s:").isdigit():
            shards[int(tail.removeprefix("s:"))].add(challenge_id)
    found: list[Difference] = []
    for shard, challenge_ids in sorted(shards.items()):
        found += await reconcile_challenges(redis, shard, challenge_ids, only=None, write=write)
    for challenge_id in sorted(boards):
        key = challenge_board_key(challenge_id)
        found += await sweep(redis, key, write=write, watched=key.states)
    return len(boards), found
