"""Eco causes: the catalog, donations, matching campaigns, impact.

- `donations`
- `models`
"""
