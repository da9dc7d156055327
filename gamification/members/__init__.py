"""Members: sign-up and profiles, what the engine knows of one, follows.

- `profiles`: `sign_up`, `authenticate`, `get_member`, `members_by_id`, `update_profile`
  (`ProfileChanges`), `find_or_create_external_member`, and the checks of a profile's fields
- `state`: `MemberState`, `TierStatus`, `load`, `cached`, `count_purchases` (loaded for the
  engine by `gamification.events.engine_state.state_of`)
- `search`: `MemberFilter`, `search_members`, `card_holder`, `open_holds`, `first_name`,
  `normalize_card_number`, `normalize_name_prefix` (support's look-ups; erased members never found)
- `follows`: `follow`, `unfollow`, `followee_ids`, `is_following`
- `models`: `Member`, `Role`, `Follow`
"""
