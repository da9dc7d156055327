"""Prometheus metrics after a journey, the scrape token, JSON log lines (server.observability)."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from starlette.applications import Starlette

from schema.members.types import MemberType
from schema.relay import to_global_id
from server.app import create_app
from server.observability import JsonFormatter, log_config
from server.settings import Environment, InsecureConfiguration, Settings
from tests.factories import bearer, create_member, create_reward, member_token

SCRAPE_TOKEN = "scrape-token-for-tests"


@pytest.fixture
async def observed(app: Starlette, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    # The session app's lifespan already opened the database and Redis; share them.
    metrics_app = create_app(
        settings.model_copy(
            update={"metrics_enabled": True, "metrics_token": SecretStr(SCRAPE_TOKEN)}
        )
    )
    metrics_app.state.redis = app.state.redis
    metrics_app.state.broker = app.state.broker
    transport = httpx.ASGITransport(app=metrics_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://observed") as http:
        yield http


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _scrape(http: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await http.get("/metrics", headers=bearer(SCRAPE_TOKEN))
    assert response.status_code == 200
    return _samples(response.text)


def _count(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_count_a_journey_by_operation_and_outcome(
    observed: httpx.AsyncClient, settings: Settings
) -> None:
    member = await create_member(display_name="Metered")
    reward = await create_reward(cost_points=1_000)
    token = bearer(member_token(member, settings))
    before = await _scrape(observed)

    # a query that works, a mutation refused in its payload, and one with no credential
    await observed.post(
        "/graphql", json={"query": "query Balance { me { displayName } }"}, headers=token
    )
    refused = await observed.post(
        "/graphql",
        json={
            "query": "mutation Redeem($id: ID!) { redeemReward(rewardId: $id, "
            'idempotencyKey: "metrics-1") { errors { code } } }',
            "variables": {"id": to_global_id("Reward", reward.id)},
            "operationName": "Redeem",
        },
        headers=token,
    )
    await observed.post("/graphql", json={"query": "query Anonymous { me { displayName } }"})
    after = await _scrape(observed)

    def grew(name: str, **labels: str) -> float:
        return _count(after, name, **labels) - _count(before, name, **labels)

    ops = "loyalty_graphql_operations_total"
    assert grew(ops, operation="Balance", type="query", outcome="ok") == 1
    assert grew(ops, operation="Anonymous", type="query", outcome="error") == 1
    payload_codes = [e["code"] for e in refused.json()["data"]["redeemReward"]["errors"]]
    assert payload_codes, refused.json()
    assert grew(ops, operation="Redeem", type="mutation", outcome="domain_error") == 1
    codes = "loyalty_graphql_error_codes_total"
    assert grew(codes, code=payload_codes[0], where="payload") == 1
    assert grew(codes, code="UNAUTHENTICATED", where="top") == 1
    assert grew("loyalty_graphql_operation_seconds_count", operation="Balance", type="query") == 1
    assert ("loyalty_subscriptions", ()) in after


async def test_metrics_need_the_scrape_token(observed: httpx.AsyncClient) -> None:
    assert (await observed.get("/metrics")).status_code == 401
    assert (await observed.get("/metrics", headers=bearer("wrong"))).status_code == 401
    assert (await observed.get("/metrics", headers=bearer(SCRAPE_TOKEN))).status_code == 200


async def test_metrics_are_not_served_unless_enabled(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 404


def test_production_refuses_metrics_without_a_token() -> None:
    settings = Settings(
        environment=Environment.PRODUCTION,
        jwt_secret="a-production-secret-of-at-least-32-bytes",  # type: ignore[arg-type]
        metrics_enabled=True,
    )
    with pytest.raises(InsecureConfiguration, match="LOYALTY_METRICS_TOKEN"):
        settings.check_safe_to_start()


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("loyalty")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


async def test_json_log_lines_carry_the_request_id_and_no_personal_data(
    client: httpx.AsyncClient, json_log: io.StringIO
) -> None:
    # given: a refused credential, which the service logs (never answers) why
    response = await client.post(
        "/graphql",
        json={"query": "query Who { me { displayName } }"},
        headers={**bearer("not-a-jwt"), "X-Request-ID": "req-123"},
    )

    assert response.headers["x-request-id"] == "req-123"
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    refused = [line for line in lines if line["logger"] == "loyalty.auth"]
    assert refused, lines
    assert refused[0]["request_id"] == "req-123"
    assert refused[0]["level"] == "info"
    assert {"time", "message"} <= refused[0].keys()


async def test_a_request_without_a_plain_id_gets_one(client: httpx.AsyncClient) -> None:
    given = "spaces and {braces}" + "x" * 64  # not plain, and too long
    response = await client.get("/healthz", headers={"X-Request-ID": given})

    assert response.headers["x-request-id"] != given
    assert len(response.headers["x-request-id"]) == 32


async def test_an_unexpected_error_is_logged_with_the_operation_and_a_pseudonym(
    observed: httpx.AsyncClient,
    settings: Settings,
    json_log: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: a member, and a bug in the resolver their query reaches
    member = await create_member(display_name="Pseudonymous Person", email="pp@example.com")

    def broken(model: object) -> MemberType:
        raise RuntimeError("a bug")

    monkeypatch.setattr(MemberType, "from_model", broken)
    logging.getLogger("loyalty.test").info("before")  # outside any request

    # when
    response = await observed.post(
        "/graphql",
        json={"query": "query Mine { me { displayName } }", "operationName": "Mine"},
        headers=bearer(member_token(member, settings)),
    )

    # then: masked for the client, logged with the request's context, without who it is
    assert response.json()["errors"][0]["message"] == "Unexpected error."
    text = json_log.getvalue()
    assert "pp@example.com" not in text
    assert "Pseudonymous" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["message"] == "before"
    assert not {"operation", "member", "request_id"} & lines[0].keys()
    masked = [line for line in lines if line["logger"] == "loyalty.graphql"]
    assert masked, lines
    assert masked[0]["operation"] == "Mine"
    assert masked[0]["member"].startswith("m-")
    assert len(masked[0]["member"]) == 18
    assert masked[0]["request_id"] == response.headers["x-request-id"]
    assert "RuntimeError: a bug" in masked[0]["exception"]


def test_uvicorn_log_config_for_json_builds() -> None:
    config = log_config(Settings(log_format="json"))
    assert config is not None
    assert log_config(Settings()) is None
    stream = io.StringIO()
    config["handlers"]["default"]["stream"] = stream
    logging.config.dictConfig(config)
    try:
        logging.getLogger("uvicorn.error").info("started")
        assert json.loads(stream.getvalue().splitlines()[-1])["message"] == "started"
    finally:
        for name in ("uvicorn", "uvicorn.access", "loyalty"):
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.propagate = True
            logger.setLevel(logging.NOTSET)
