"""Helpers shared by the server's tests."""

from __future__ import annotations

from gamification.events.realtime import member_channel

# This run's channels (another run on the same Redis has another namespace).
NS = member_channel(0).removesuffix("member:0")
