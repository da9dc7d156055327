"""Privacy: what is held about a member, its export and erasure, consent history, retention.

- `models`: `ConsentRecord`, `ConsentKind`, `ConsentChannel`, `ErasureRecord`
"""
