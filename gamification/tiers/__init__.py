"""Tiers: the ladder, qualification, upgrades and downgrades.

- `ladder`: `define_tier` (`TierInput`), `set_tier_floor`, `evaluate_due_tiers`,
  `apply_qualifying` (`Upgrade`); reads: `ladder`, `program_ladder`, `current_tier`,
  `held_tier`, `reaches`, `tier_at_least`, `earn_multiplier`, `qualifying_points`, `progress`
  (`TierProgress`), `history`, `tiers_by_id`
- `windows`: `window_start`, `period_window_start`, `period_end_after`, `program_zone`
- `models`: `Tier`, `MemberTier`, `TierChange`, `TierChangeReason`
"""
