"""How points are earned: earn rules and promotions, purchases, eco actions and check-ins.
Import the modules, not this package (it imports nothing, so that no cycle runs through it):

- `eco_actions`: `EcoActionKindInput`, `create_kind`, `update_kind`, `list_kinds`,
  `define_kind`, `EcoActionResult`, `record_eco_action`, `CheckInResult`, `check_in`
- `models`: `EarnRule`, `EarnPromotion`, `Purchase`, `EcoActionKind`, `EcoAction`
- `purchases`: `PurchaseInput`, `PurchaseResult`, `RefundResult`, `find_member`,
  `record_purchase`, `refund_purchase`
- `rules`: `LineItem`, `check_amount`, `check_line_items`, `rule_for`, `best_promotion`,
  `tier_multiplier`, `points_for`, `expiry_for`, `points_expiry`, `set_earn_rule`,
  `create_promotion`
"""
