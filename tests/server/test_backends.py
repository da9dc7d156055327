"""The one line a backend failure is reported in: where it points, never with a password."""

from __future__ import annotations

import socket

import pytest

from server.backends import BackendUnavailable, describe_cause, describe_target, named_failures


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("postgres://loyalty:hunter2@db.internal:5433/loyalty?sslmode=require", "db.internal:5433"),
        ("postgres://loyalty@db.internal/loyalty", "db.internal"),
        ("redis://:hunter2@127.0.0.1:6380/2", "127.0.0.1:6380"),
        ("rediss://user:hunter2@[::1]:6379/0", "[::1]:6379"),
        ("unix:///run/redis.sock?db=1", "/run/redis.sock"),
        ("sqlite://data/loyalty.sqlite3", "data/loyalty.sqlite3"),
        ("sqlite://:memory:", ":memory:"),
    ],
)
def test_the_target_is_host_and_port_without_credentials(url: str, target: str) -> None:
    assert describe_target(url) == target


def _raised_from(inner: BaseException, outer: Exception) -> Exception:
    try:
        try:
            raise inner
        except BaseException as error:
            raise outer from error
    except Exception as raised:
        return raised


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (
            _raised_from(ConnectionRefusedError(111, "refused"), RuntimeError("Error 111")),
            "connection refused (is it running, on that port?)",
        ),
        (
            _raised_from(socket.gaierror(-2, "Name or service not known"), OSError("lookup")),
            "unknown host (Name or service not known)",
        ),
        (_raised_from(TimeoutError(), RuntimeError("connect")), "no answer in time"),
        (
            _raised_from(ValueError('database "x" does not exist'), RuntimeError("cannot")),
            'database "x" does not exist',
        ),
        (RuntimeError("first line\nsecond line"), "first line"),
    ],
    ids=["refused", "unknown-host", "timeout", "innermost-message", "first-line"],
)
def test_the_cause_is_said_in_a_few_words(error: Exception, cause: str) -> None:
    assert describe_cause(error) == cause


def test_a_failure_inside_the_block_names_the_setting() -> None:
    failing = named_failures(
        setting="LOYALTY_REDIS_URL", backend="Redis", url="redis://:pw@10.0.0.7:6379/0"
    )

    with pytest.raises(BackendUnavailable) as raised, failing:
        raise ConnectionRefusedError(111, "Connection refused")

    assert str(raised.value) == (
        "LOYALTY_REDIS_URL: cannot use Redis at 10.0.0.7:6379: "
        "connection refused (is it running, on that port?)"
    )
    assert isinstance(raised.value.__cause__, ConnectionRefusedError)  # for --debug
