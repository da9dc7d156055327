"""Webhooks: endpoints admins register, and the signed deliveries of outbox events to them
(Standard Webhooks). Import the modules, not this package (it imports nothing):

- `models`: `WebhookEndpoint`, `WebhookDelivery`, `DeliveryStatus`
- `targets`: `check_target` (SSRF: refuses non-http(s), private, loopback, link-local targets
  unless allow-listed), `UnsafeTarget`
- `signing`: `new_secret`, `body_of`, `signed_headers` (via the `standardwebhooks` library)
- `endpoints`: `create_endpoint`, `update_endpoint`, `deactivate_endpoint`, `delete_endpoint`
- `deliveries`: `fan_out`, `claim_due`, `record_success`, `record_failure`, `release`,
  `replay_delivery`, `replay_range`, `backoff_seconds`, `Claimed`
- `sending`: `Worker` (fan out, claim, send with httpx, record; the loop `loyalty worker` runs)
"""
