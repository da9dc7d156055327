"""Leaderboards in Redis: boards, updates, reconciliation, reads.

- `boards`
"""
