"""Tiers: the ladder, qualification, upgrades and downgrades.

- `ladder`: `define_tier` (`TierInput`), `set_tier_floor`, `evaluate_due_tiers`,
  `apply_qualifying` (`Upgrade`); reads: `ladder`, `program_ladder`, `current_tier`,
  `held_tier`, `reaches`, `tier_at_least`, `earn_multiplier`, `qualifying_points`, `progress`
  (`TierProgress`), `history`, `tiers_by_id`
- `windows`: `window_start`, `period_window_start`, `period_end_after`, `program_zone`
- `qualifying`: qualifying points as maintained totals per member, UTC day and month: `add`
  (in the write's transaction), `flush_pending`, `Window` and `window_sum_sql` (a window's sum
  in a bounded number of rows), `differences` (`Difference`), `rebuild`
- `models`: `Tier`, `MemberTier`, `TierChange`, `TierChangeReason`, `QualifyingPointsBucket`,
  `BucketSpan`
"""
