"""How points are earned: earn rules and promotions, purchases, eco actions.

- `eco_actions`
- `models`
- `purchases`
- `rules`
"""
