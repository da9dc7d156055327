"""Rewards: the catalog, redemptions and vouchers, till holds.
Import the modules, not this package (it imports nothing, so that no cycle runs through it):

- `catalog`: `RewardInput`, `RewardChanges`, `check_reward`, `create_reward`, `update_reward`,
  `list_rewards`, `visible_reward`, `member_redemptions`, `may_see_redemption`,
  `visible_redemption`
- `holds`: `HoldRequest`, `device_origin`, `check_hold_request`, `place_hold_in`, `place_hold`,
  `capture_hold`, `release_hold`, `expire_holds`
- `models`: `RewardKind`, `LimitPeriod`, `Reward`, `RedemptionStatus`, `Redemption`,
  `RedemptionToken`, `HoldStatus`, `PointsHold`
- `redemptions`: `new_voucher_code`, `RedemptionRequest`, `member_tier_allows`,
  `check_reward_offered`, `redeem_in`, `redeem`, `cancel_redemption`,
  `use_voucher`
"""
