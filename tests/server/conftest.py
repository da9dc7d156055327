"""A real server process for what the in-process ASGI client cannot show (WebSockets over the
wire, the CLI as people run it). It shares the test database: rows the test creates through
the ORM are visible to it once committed, and the per-test cleanup empties them afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from server.settings import Settings
from tests.factories import TEST_JWT_SECRET
from tests.server.browser import browser, chromium, offline  # noqa: F401 (the browser fixtures)

_READY_TIMEOUT_SECONDS = 30
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LiveServer:
    host: str
    port: int

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def graphql_ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/graphql"


@pytest.fixture(scope="session")
def service_env(settings: Settings) -> dict[str, str]:
    """The environment a child process needs to use the same database, Redis and secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env.update(
        LOYALTY_DATABASE_URL=settings.database_url,
        LOYALTY_REDIS_URL=settings.redis_url,
        LOYALTY_JWT_SECRET=TEST_JWT_SECRET,
        # Concurrency tests send hundreds of calls from one member and one address: far over
        # the rate limits, which have tests of their own (tests/schema/test_rate_limits.py).
        LOYALTY_RATE_LIMIT_PER_MEMBER="0",
        LOYALTY_RATE_LIMIT_PER_DEVICE="0",
        LOYALTY_RATE_LIMIT_PER_ADDRESS="0",
        LOYALTY_RATE_LIMIT_SIGN_IN_PER_ADDRESS="0",
        # The server process outlives each test's tables (emptied between tests, ids restarted):
        # nothing it cached from one test may leak into the next.
        LOYALTY_PROGRAM_CACHE_SECONDS="0",
        LOYALTY_DEVICE_CACHE_SECONDS="0",
    )
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server was not ready in {_READY_TIMEOUT_SECONDS}s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def live_server(app: Starlette, service_env: dict[str, str]) -> Iterator[LiveServer]:
    """uvicorn serving the app in its own process. `app` comes first: it migrates the database."""
    with run_server(service_env) as server:
        yield server


@contextmanager
def run_server(env: dict[str, str]) -> Iterator[LiveServer]:
    """Another uvicorn process, with `env` (e.g. `service_env` plus some settings)."""
    server = LiveServer(host="127.0.0.1", port=_free_port())
    with tempfile.NamedTemporaryFile(prefix="loyalty-uvicorn-", suffix=".log") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "server.app:create_app",
                "--factory",
                "--host",
                server.host,
                "--port",
                str(server.port),
                "--no-access-log",
            ],
            cwd=_PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_ready(process, server.http_url, Path(log.name))
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
