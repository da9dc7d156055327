"""Member notifications: scheduled notices in the member's timezone (points expiring, a tier at
risk, a challenge ending, a birthday), each at most once per occasion, and the member's inbox.

- `occasions`: which notices are due at a moment (`due`, `points_expiring`, `tiers_at_risk`,
  `challenges_ending`, `birthdays`; `Occasion`, `Recipient`, `recipients`, `local_moment`,
  `last_local_day`)
- `scheduler`: one run (`notify` → `NotifyReport`, `CreatedNotice`): inserts each occasion
  once, emits its webhook event in the same transaction (`emit_webhook_events`), publishes it
  after commit
- `preferences`: `preferences_of`, `set_preferences` (`Preference`), `turned_off`,
  `may_notify`, `MARKETING`
- `inbox`: `page`, `unread_count`, `notice_of`, `mark_read`; `MAX_IDS`
- `models`: `Notification`, `NotificationPreference`, `NotificationKind`
"""
