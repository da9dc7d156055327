"""What differs per channel: credentials and identities, store/channel policies, QR tokens.

Calls `gamification/`; never the other way round."""
