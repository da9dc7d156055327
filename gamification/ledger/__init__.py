"""The points ledger: accounts, entries, lots, consent, balances and history.

- `books`
- `consent`
- `models`
- `overview`
- `points`
- `written`
"""
