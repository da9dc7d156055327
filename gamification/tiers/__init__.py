"""Tiers: the ladder, qualification, upgrades and downgrades.

- `ladder`
- `models`
"""
