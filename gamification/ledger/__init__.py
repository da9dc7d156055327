"""The points ledger: accounts, entries, movements of points, consent, balances and history.
Every write of points goes through `accounts`, `entries` and `movements`; nothing else changes a
balance.

- `accounts`: `open_member_account`, `lock_member_account` (→ `LockedAccount`), `save_account`,
  `member_account_code`, `program_account_id`
- `entries`: `Origin`, `Reference`, `append_entry`, `entry_hash`, `entry_content`, `seal`,
  `reason_digest`, `reason_problem`, `verify_account_chain` (→ `ChainCheck`),
  `derived_balances`; `MAX_POINTS_PER_ENTRY`, `CHAIN_VERSION`, `GENESIS_HASH`
- `movements`: `credit`, `debit`, `restore`, `claw_back`, `place_hold`, `settle_hold`,
  `expire_due_lots`, `forfeit`; `InsufficientPoints`
- `consent`: the member's proof a debit needs (`by_access_token`, `by_one_time_code`,
  `by_app_approval`, `by_hold`, `correction_by`, `check_consent`)
- `points`: use cases and views (`summary`, `expiring_soon`, `adjust_points`, `expire_points`,
  `history`, `proof`, `verify_all`)
- `overview`: many members' points at once (`overviews`)
- `written`: the entries written while a caller listens (`collect_written_entries`,
  `entry_written`)
- `models`: `LedgerAccount`, `LedgerEntry`, `PointsLot`, `IdempotencyKey`
"""
