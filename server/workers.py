"""Several server processes on one port, each with its own listening socket (SO_REUSEPORT).

uvicorn's own `--workers` shares one listening socket between the processes, and whichever
process wakes first accepts every connection waiting: with clients that keep their connections
open (a load balancer's pool, an app on HTTP keep-alive or a WebSocket), one process can end up
serving all of them while the others idle. With a socket per process and SO_REUSEPORT, the
kernel spreads new connections over the processes evenly (by a hash of the addresses).

The parent only supervises: it starts the processes, restarts one that dies, and passes
SIGINT/SIGTERM on so that each finishes its requests (uvicorn's graceful shutdown).
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import time
from multiprocessing.context import SpawnProcess
from typing import Any

_RESTART_PAUSE_SECONDS = 1.0


def supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _serve_one(options: dict[str, Any]) -> None:
    import uvicorn

    host, port = options.pop("host"), options.pop("port")
    config = uvicorn.Config(**options)
    uvicorn.Server(config).run(sockets=[_listen(host, port)])


def run(workers: int, options: dict[str, Any]) -> int:
    """Serve with `workers` processes; `options` are uvicorn.Config's (host and port included).
    Returns when the processes have stopped after SIGINT or SIGTERM."""
    if not options.get("port"):
        raise ValueError("several processes need a fixed port")
    # Fail here, in one place, when the address is taken, rather than in every child.
    _listen(options["host"], options["port"]).close()
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> SpawnProcess:
        process = context.Process(target=_serve_one, args=(dict(options),), daemon=False)
        process.start()
        return process

    processes = [start() for _ in range(workers)]

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.is_alive() and process.pid is not None:
                process.terminate()  # SIGTERM: uvicorn drains its connections, then exits

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping:
        for index, process in enumerate(processes):
            if not process.is_alive() and not stopping:
                time.sleep(_RESTART_PAUSE_SECONDS)  # no tight loop when it dies at start
                processes[index] = start()
        time.sleep(0.2)
    for process in processes:
        process.join()
    return 0
