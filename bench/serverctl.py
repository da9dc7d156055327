"""The server under test as a real process: prepared with the `loyalty` CLI, served by uvicorn.

Everything goes through the CLI (`python -m server.cli`) or, for data only the benchmark needs,
`python -m bench.prepare_data` in a child process, never through imports, so the benchmark
measures exactly what an operator runs, and the harness's own process stays free of the app.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
# What the CLI runs as; `python -m server.cli` is the `loyalty` script without needing it on PATH.
CLI = (sys.executable, "-m", "server.cli")
# The rows' own data preparation, made with the application's code in a child process.
PREPARE = (sys.executable, "-m", "bench.prepare_data")
# Per-window rate limits given to the server under test (see server_environment).
BENCH_RATE_LIMIT = 1_000_000_000


class BenchSetupError(RuntimeError):
    """The server could not be prepared, started or reached."""


def server_environment(database_url: str, redis_url: str, jwt_secret: str) -> dict[str, str]:
    """The environment for every CLI call and the server: the same secret signs and checks."""
    env = dict(os.environ)
    env.update(
        LOYALTY_DATABASE_URL=database_url,
        LOYALTY_REDIS_URL=redis_url,
        LOYALTY_JWT_SECRET=jwt_secret,
    )
    # The benchmark measures capacity: one till or one admin sends hundreds of calls a second
    # from one address, far over the per-caller rate limits. The limits stay switched on (their
    # checks are part of each call's cost) but too high to refuse anything.
    for limit in ("PER_MEMBER", "PER_DEVICE", "PER_ADDRESS"):
        env.setdefault(f"LOYALTY_RATE_LIMIT_{limit}", str(BENCH_RATE_LIMIT))
    return env


def run_cli(env: Mapping[str, str], *args: str, timeout: float = 600) -> str:
    """Run one `loyalty` subcommand; its stdout. Raises BenchSetupError with its output."""
    return _run((*CLI, *args), f"loyalty {' '.join(args)}", env, timeout)


def run_prepare(
    env: Mapping[str, str], task: str, *args: str, timeout: float = 1800
) -> dict[str, Any]:
    """Run one `bench.prepare_data` task (its progress goes to our stderr); the facts it
    printed. Raises BenchSetupError when it fails or prints no JSON object."""
    label = f"python -m bench.prepare_data {' '.join((task, *args))}"
    stdout = _run((*PREPARE, task, *args), label, env, timeout, show_progress=True)
    lines = stdout.strip().splitlines()
    try:
        facts = json.loads(lines[-1]) if lines else None
    except ValueError:
        facts = None
    if not isinstance(facts, dict):
        raise BenchSetupError(f"`{label}` printed no JSON object:\n{stdout[-1000:]}")
    return facts


def _run(
    command: Sequence[str],
    label: str,
    env: Mapping[str, str],
    timeout: float,
    *,
    show_progress: bool = False,
) -> str:
    try:
        completed = subprocess.run(
            list(command),
            env=dict(env),
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            # Progress messages (stderr) go straight to ours when asked for; a failure's
            # traceback then shows there too.
            stderr=None if show_progress else subprocess.PIPE,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchSetupError(f"`{label}` took over {timeout:g} s") from None
    if completed.returncode != 0:
        # The end of a traceback says what went wrong; the rest would bury it.
        output = "\n".join((completed.stdout + (completed.stderr or "")).splitlines()[-15:])
        raise BenchSetupError(f"`{label}` failed ({completed.returncode}):\n{output}")
    return completed.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def port_is_taken(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((HOST, port)) == 0


@dataclass(frozen=True)
class RunningServer:
    host: str
    port: int
    pid: int
    log_path: Path


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path, timeout: float) -> None:
    url = f"http://{HOST}:{port}/readyz"
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchSetupError(
                f"the server exited with code {process.returncode} before it was ready:\n"
                f"{_log_tail(log)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:  # 503: up, but a dependency is not
            last = f"HTTP {exc.code}: {exc.read()[:200]!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise BenchSetupError(f"/readyz not ready after {timeout:g} s ({last}):\n{_log_tail(log)}")


def _stop(process: subprocess.Popen[bytes], grace: float = 15) -> None:
    """Stop the server and every worker it started, whatever state they are in."""
    if process.poll() is None:
        # SIGINT is uvicorn's graceful shutdown; its supervisor passes it on to the workers.
        process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    # The server leads its own process group (start_new_session): whatever is left of it,
    # an orphaned worker included, goes with the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


@contextlib.contextmanager
def running_server(
    env: Mapping[str, str],
    *,
    workers: int,
    port: int,
    log_path: Path,
    ready_timeout: float = 60,
) -> Iterator[RunningServer]:
    """Serve with uvicorn until the block exits (Ctrl-C and errors included); wait for /readyz."""
    # A server already on the port would answer /readyz and be benchmarked instead of ours.
    if port_is_taken(port):
        raise BenchSetupError(f"port {port} is already in use")
    command = [
        *CLI,
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            env=dict(env),
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session: a terminal Ctrl-C reaches only the harness, which then stops
            # the server in order instead of leaving it half shut down mid-measurement.
            start_new_session=True,
        )
    try:
        _wait_ready(process, port, log_path, ready_timeout)
        yield RunningServer(host=HOST, port=port, pid=process.pid, log_path=log_path)
        if process.poll() is not None:
            raise BenchSetupError(
                f"the server died during the run (code {process.returncode}):\n"
                f"{_log_tail(log_path)}"
            )
    finally:
        _stop(process)
