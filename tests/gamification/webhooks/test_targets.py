"""Where webhooks may go: http(s) URLs whose every address is public, or allow-listed."""

from __future__ import annotations

import pytest

from gamification.errors import ErrorCode, LoyaltyError
from gamification.webhooks import endpoints, targets
from tests.factories import OverrideSettings


@pytest.fixture(autouse=True)
def nothing_allow_listed(override_settings: OverrideSettings) -> None:
    override_settings(webhook_allowed_hosts=[])


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://hooks.example.com/x", ErrorCode.INVALID_WEBHOOK_URL),
        ("file:///etc/passwd", ErrorCode.INVALID_WEBHOOK_URL),
        ("not a url", ErrorCode.INVALID_WEBHOOK_URL),
        ("http://", ErrorCode.INVALID_WEBHOOK_URL),
        ("http://user:secret@93.184.215.14/x", ErrorCode.INVALID_WEBHOOK_URL),
        ("http://93.184.215.14:99999/x", ErrorCode.INVALID_WEBHOOK_URL),
        ("http://127.0.0.1:8000/hooks", ErrorCode.WEBHOOK_TARGET_REFUSED),
        ("http://localhost/hooks", ErrorCode.WEBHOOK_TARGET_REFUSED),
        ("http://10.1.2.3/hooks", ErrorCode.WEBHOOK_TARGET_REFUSED),
        ("http://192.168.0.10/hooks", ErrorCode.WEBHOOK_TARGET_REFUSED),
        ("http://172.16.0.1/hooks", ErrorCode.WEBHOOK_TARGET_REFUSED),
        ("http://169.254.169.254/latest/meta-data", ErrorCode.WEBHOOK_TARGET_REFUSED),
        ("http://0.0.0.0/hooks", ErrorCode.WEBHOOK_TARGET_REFUSED),
        ("http://[::1]/hooks", ErrorCode.WEBHOOK_TARGET_REFUSED),
        ("http://[fe80::1]/hooks", ErrorCode.WEBHOOK_TARGET_REFUSED),
        ("http://[fd00::1]/hooks", ErrorCode.WEBHOOK_TARGET_REFUSED),
        ("http://[::ffff:127.0.0.1]/hooks", ErrorCode.WEBHOOK_TARGET_REFUSED),
        ("http://224.0.0.1/hooks", ErrorCode.WEBHOOK_TARGET_REFUSED),
        ("http://no-such-host.invalid/hooks", ErrorCode.WEBHOOK_TARGET_REFUSED),
    ],
)
async def test_unsafe_or_malformed_urls_are_refused_at_registration(
    url: str, code: ErrorCode
) -> None:
    with pytest.raises(LoyaltyError) as refused:
        await endpoints.create_endpoint(url=url)
    assert refused.value.code is code
    assert refused.value.field == "url"


async def test_a_public_address_is_accepted() -> None:
    await targets.check_target("https://93.184.215.14/hooks", [])


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:9/hooks", ["127.0.0.1"]),
        ("http://localhost:9/hooks", ["localhost"]),
        ("http://10.1.2.3/hooks", ["10.0.0.0/8"]),
    ],
)
async def test_the_allow_list_lets_private_receivers_in(
    url: str, allowed: list[str], override_settings: OverrideSettings
) -> None:
    override_settings(webhook_allowed_hosts=allowed)
    endpoint = await endpoints.create_endpoint(url=url, event_types=["points.changed"])
    assert endpoint.url == url
    assert endpoint.secret.startswith("whsec_")


async def test_unknown_event_types_are_refused() -> None:
    with pytest.raises(LoyaltyError) as refused:
        await endpoints.create_endpoint(
            url="https://93.184.215.14/hooks", event_types=["points.changed", "points.stolen"]
        )
    assert refused.value.code is ErrorCode.UNKNOWN_EVENT_TYPE
