"""Eco causes: the catalog, donations, matching campaigns, impact.

- `catalog`: `create_cause`, `update_cause`, `close_cause` (`CauseInput`, `CauseChanges`,
  `check_cause`), `list_causes`, `get_cause`, `effective_status`, `status_for_totals`; the
  cause's ledger account: `cause_account`, `cause_account_id`, `cause_account_code`
- `donations`: `donate_points`, `donate_in`, `donation_result`, `reverse_donation`
  (`DonationResult`); the checks `check_points_range`, `check_donation_amount`,
  `check_cause_open`, `accepts_donations`; receipts: `member_donations`, `visible_donation`
- `matching`: `create_matching_campaign` (`CampaignInput`, `check_campaign`),
  `active_campaigns`; for a donation: `match_for`, `write_match`
- `impact`: `impact_of`, `progress_of` (`CauseProgress`), `lifetime_impact` (`ImpactTotal`)
- `models`: `Cause`, `CauseStatus`, `Donation`, `MatchingCampaign`
"""
