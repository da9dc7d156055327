"""Members: sign-up and profiles, what the engine knows of one, follows.

- `follows`
- `models`
- `profiles`
- `state`
"""
