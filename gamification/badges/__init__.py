"""Badges: the catalog and awards.

- `awards`
- `models`
"""
