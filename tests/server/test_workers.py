"""`loyalty serve --workers N`: N processes, each with its own listening socket on the port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from server import workers
from tests.server.conftest import _free_port


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    found: list[int] = []
    for task in tasks.iterdir():
        children = (task / "children").read_text().split()
        found.extend(int(child) for child in children)
    return found


def _listening_sockets(pid: int) -> set[str]:
    """The inodes of the sockets the process holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:"):
            inodes.add(target)
    return inodes


def test_two_workers_each_listen_on_their_own_socket_and_stop_together(
    service_env: dict[str, str],
) -> None:
    assert workers.supported()
    port = _free_port()
    command = [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "2", "--log-level", "warning"]
    server = subprocess.Popen(command, env=service_env, start_new_session=True)
    try:
        # when: it is up
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        children = [pid for pid in _children(server.pid) if _listening_sockets(pid)]

        # then: two serving processes whose sockets are not shared
        assert len(children) >= 2
        first, second = (_listening_sockets(pid) for pid in children[:2])
        assert first
        assert second
        assert not first & second

        # and: SIGTERM stops the parent and its processes
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
        for pid in children:
            assert (
                not Path(f"/proc/{pid}").exists()
                or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
            )
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
