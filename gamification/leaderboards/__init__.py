"""Leaderboards on Redis sorted sets, rebuilt exactly from the ledger (the source of truth).
Import the modules, not this package (it imports nothing, so that no cycle runs through it):

- `keys`: boards, periods, their Redis keys and score encoding: `Period`, `BoardKey`,
  `board_key`, `cause_board`, `cause_id_of`, `challenge_board`, `challenge_id_of`,
  `challenge_board_key`, `member_tag`, `member_of_tag`, `Score`, `counted`.
- `store`: the only module that talks to Redis for the boards: the Lua scripts
  (`add_entries`, `position`), reads (`page`, `window`, `hash_fields`, `zscores`), and the
  optimistic transactions (`Writes`, `optimistic`).
- `updates`: after commit, `record_committed` (ledger entries), `record_challenge_progress`;
  `missed_updates`.
- `reconcile`: `rebuild`, `check` (every board against the ledger), `reconcile_member`;
  `ReconcileReport`.
- `differences`: what differs between Redis and the source of truth, and the fixes:
  `Difference`, `differences`, `write_fixes`, `sweep`.
- `reads`: `open_board`, `Board` (`page`, `position`, `around`), `Standing`, `Position`,
  `check_neighbours`, `listings`; `LeaderboardsUnavailable`, `UnknownBoard`, `UnknownPeriod`.
- `challenge_boards`: boards of challenge progress, from the progress table:
  `reconcile_challenge_boards`, `reconcile_challenges`, `rebuild_challenge_board`.
"""
