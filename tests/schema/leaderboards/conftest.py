"""Fixtures of the leaderboard API's tests."""

from __future__ import annotations

import pytest

from gamification.stores.models import Channel, Device
from tests.factories import create_device, create_earn_rule


@pytest.fixture
async def till() -> Device:
    """A till in a store where a euro earns a point."""
    await create_earn_rule(points_per_unit="1")
    return await create_device(channel=Channel.POS)
