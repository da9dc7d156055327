"""What a process remembers of the tables, forgotten when a test empties them.

The server keeps per-process memos that are right for as long as the rows they were read from
exist: the program account's id, program configuration (`gamification.program_cache`) and which
ledger entries were committed (`gamification.events.committed_entries`, keyed by entry id and
hash, which a test replaying the same writes on emptied tables would produce again) and the
active devices (`gamification.stores.device_cache`). Production
never empties the tables, so only tests drop them.
"""

from __future__ import annotations

from channels.credentials import verified_tokens
from gamification import program_cache
from gamification.events import committed_entries
from gamification.ledger import accounts
from gamification.privacy.revocations import erased_members
from gamification.stores.device_cache import active_devices


def forget_process_caches() -> None:
    """Forget every per-process memo of table contents (after the tables were emptied)."""
    accounts._program_account_id = None
    program_cache.invalidate()
    committed_entries._memo.clear()
    verified_tokens.clear()
    active_devices.clear()
    erased_members.clear()
