"""Logs carry no personal data: everything logged during a member's journey — sign-up, sign-in
(wrong password too), profile change, purchases by card number (an unknown card too), a kiosk
request, a refused redemption, a failing and a good account deletion — holds none of the
member's email, name or card number (the service's loggers down to DEBUG, libraries' from
INFO, the service's default level)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from gamification.members.models import Member
from gamification.stores.models import Channel
from server.settings import Settings
from tests.documents import RECORD_PURCHASE, purchase_input
from tests.factories import bearer, create_device, create_earn_rule, device_token

SIGN_UP = """
mutation($email: String!, $name: String!) {
  signUp(email: $email, password: "a-long-password-2026", displayName: $name) {
    token errors { code } }
}
"""
LOG_IN = """
mutation($email: String!, $password: String!) {
  logIn(email: $email, password: $password) { token errors { code } }
}
"""
UPDATE_PROFILE = """
mutation($name: String!) { updateProfile(displayName: $name) { errors { code } } }
"""
REQUEST_REDEMPTION = """
mutation($card: String!) {
  requestRedemption(reference: "ask-1", cardNumber: $card, points: 50) { errors { code } }
}
"""
REDEEM_TOO_MUCH = """
mutation { redeemReward(rewardId: "UmV3YXJkOjk5OTk5", idempotencyKey: "k1") { errors { code } } }
"""
DELETE = """
mutation($password: String!) { deleteMyAccount(password: $password) { errors { code } } }
"""
ME = "{ me { email cardNumber displayName } }"


def _everything_logged(records: list[logging.LogRecord]) -> str:
    """Each record's message, arguments and extra fields, as text."""
    standard = set(vars(logging.makeLogRecord({})))
    parts: list[str] = []
    for record in records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        parts.extend(f"{k}={v!r}" for k, v in vars(record).items() if k not in standard)
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


async def _post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    headers = bearer(token) if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


async def test_a_member_journey_logs_nothing_that_names_the_member(
    client: httpx.AsyncClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    email, name = "ottilie.brandauer@example.net", "Ottilie Brandauer"
    till = device_token(await create_device(channel=Channel.POS), settings)
    kiosk_device = await create_device(channel=Channel.KIOSK)
    kiosk = device_token(kiosk_device, settings)
    await create_earn_rule()
    # The libraries' DEBUG output (the database drivers echo every statement's parameters) is
    # for a developer's own machine; the service logs at INFO (LOYALTY_LOG_LEVEL) and its own
    # loggers are checked down to DEBUG.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="loyalty")

    # when: the journey
    signed_up = await _post(client, SIGN_UP, {"email": email, "name": name})
    token = signed_up["data"]["signUp"]["token"]
    card = (await Member.get(email=email)).card_number
    await _post(client, LOG_IN, {"email": email, "password": "wrong-password-1"})
    await _post(client, LOG_IN, {"email": email, "password": "a-long-password-2026"})
    await _post(client, SIGN_UP, {"email": email, "name": name})  # EMAIL_TAKEN
    await _post(client, UPDATE_PROFILE, {"name": f"{name} Jr"}, token)
    await _post(client, ME, {}, token)
    for n, number in enumerate((card, "0000000000000000")):
        await _post(
            client,
            RECORD_PURCHASE,
            {"input": purchase_input(card_number=number, external_id=f"r-{n}"), "key": f"p{n}"},
            till,
        )
    await _post(client, REQUEST_REDEMPTION, {"card": card}, kiosk)
    await _post(client, REDEEM_TOO_MUCH, {}, token)
    await _post(client, DELETE, {"password": "wrong-password-1"}, token)
    await _post(client, DELETE, {"password": "a-long-password-2026"}, token)
    await _post(client, ME, {}, token)  # an erased member's token

    # then
    assert caplog.records, "the journey logged nothing: the test would prove nothing"
    logged = _everything_logged(caplog.records).lower()
    for label, value in (("email", email), ("name", name), ("card number", card)):
        assert value.lower() not in logged, f"the logs hold the member's {label}"
