"""Rewards: the catalog, redemptions and vouchers, till holds.

- `catalog`
- `holds`
- `models`
- `redemptions`
"""
