"""Domain events and after-commit work: facts, progress, real-time notices.

- `committed_entries`
- `engine_state`: `state_of`, `earn_multiplier` (the member's state, loaded for the engine)
- `facts`
- `models`
- `progress`
- `realtime`
"""
