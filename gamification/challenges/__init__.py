"""Challenges: definitions, windows and streaks, progress, views, refunds.

- `definitions`: `create_challenge`, `update_challenge` (archive and restore too;
  `ChallengeInput`), `catalog` (the cached definitions)
- `windows`: `window_key`, `window_ends_at`, `zone_of`, `advance_streak`, `streak_alive`,
  `next_number`
- `progress`: `plan_event`, `apply_event` (`EventPlan`, `ProgressRead`, `Outcome`),
  `join_challenge`
- `views`: `standing` (`ChallengeStanding`, `WindowProgress`), `views_of`, `views_for`
  (`ChallengeView`), `visible_challenges`, `page_of`
- `refunds`: `reverse_purchase` (what a refunded purchase takes back of progress and completions)
- `models`: `Challenge`, `ChallengeProgress`, `ChallengeParticipant`, `ChallengeCompletion`,
  `ChallengeContribution`, `GoalType`, `WindowKind`, `ChallengeStatus`
"""
