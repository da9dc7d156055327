"""Badges: the catalog and awards.

- `awards`: `create_badge` (`BadgeInput`), `award`, `award_in`, `apply_milestones`,
  `level_for`; reads: `catalog_badges`, `purchase_cap`, `catalog` (`BadgeWithRarity`), `held`
  (`HeldBadge`)
- `models`: `Badge`, `BadgeRule`, `MemberBadge`
"""
