"""Challenges: definitions, windows and streaks, progress, refunds.

- `engine`
- `models`
- `refunds`
"""
