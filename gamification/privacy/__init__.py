"""Privacy: what is held about a member, its export and erasure, consent history, retention.

- `registry`: every table that holds rows about a member, with how each is exported and
  erased (`TABLES`, `MemberTable`, `Erasure`, `BY_MODEL`, `member_filter`)
- `export`: the member's data as one JSON document (`export_chunks`, `export_document`,
  `row_of`; `FORMAT`, `VERSION`)
- `erasure`: `erase_member` (→ `ErasureResult`), `delete_own_account`, `forget_cached_views`,
  `is_erased`,
  `require_not_erased`, `erased_email`, `erased_card_number`, `card_digest`; `ERASED_NAME`,
  `OPERATOR`
- `consents`: `set_consent`, `current` (→ `ConsentState`), `history`, `may_contact`,
  `withdraw_all`
- `revocations`: erased members known per process (`erased_members`, `ErasedMembers`)
- `retention`: `purge` and its `RULES` (`PurgeRule`)
- `models`: `ConsentRecord`, `ConsentKind`, `ConsentChannel`, `ErasureRecord`
"""
