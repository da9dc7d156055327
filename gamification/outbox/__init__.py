"""The transactional outbox: what a transaction did, written in that transaction, for consumers
to pick up after commit (webhooks today; notifications and the after-commit effects may follow).
Import the modules, not this package (it imports nothing):

- `emit`: `emit(conn, *, type, member_id, data, version=1, occurred_at=None)` — the one way to
  add an event (held back with the transaction's writes, so it adds no round trip)
- `catalog`: `EventType`, `EVENT_TYPES`, `is_known`, `is_free_text`, `markdown` (every type,
  version and JSON Schema; docs/events.md)
- `models`: `OutboxEvent`
"""
