"""Domain events and after-commit work: facts, progress, real-time notices.

- `committed`
- `facts`
- `models`
- `progress`
- `realtime`
"""
