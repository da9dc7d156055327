"""The service's backends, the database and Redis, as start-up sees them: when one cannot be
reached or used, one line says which setting names it, where it points (host and port, never a
password) and what went wrong, e.g.

    LOYALTY_REDIS_URL: cannot use Redis at 127.0.0.1:6999: connection refused

The full traceback stays on the exception's chain, for `--debug`."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit


class BackendUnavailable(RuntimeError):
    """A backend the service needs cannot be reached or used; the message is the one line."""

    def __init__(self, *, setting: str, backend: str, target: str, cause: str) -> None:
        super().__init__(f"{setting}: cannot use {backend} at {target}: {cause}")
        self.setting = setting
        self.target = target


def describe_target(url: str) -> str:
    """Where `url` points, for people: host:port (no user, no password), or a file's path."""
    scheme, _, rest = url.partition("://")
    if scheme in ("sqlite", "unix"):
        return rest.split("?", 1)[0] or url
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def _chain(error: BaseException) -> list[BaseException]:
    """`error` and the exceptions it was raised from, outermost first."""
    chain = [error]
    while (inner := chain[-1].__cause__ or chain[-1].__context__) is not None:
        if any(inner is seen for seen in chain):
            break
        chain.append(inner)
    return chain


def describe_cause(error: BaseException) -> str:
    """What went wrong, in a few words: where the operating system or the server said no."""
    chain = _chain(error)
    for candidate in chain:
        if isinstance(candidate, ConnectionRefusedError):
            return "connection refused (is it running, on that port?)"
        if isinstance(candidate, socket.gaierror):
            return f"unknown host ({candidate.strerror})"
        if isinstance(candidate, TimeoutError):
            return "no answer in time"
    for candidate in reversed(chain):  # the innermost message is the most specific
        if isinstance(candidate, Exception) and (lines := str(candidate).strip().splitlines()):
            return lines[0][:300]
    return type(error).__name__


@contextmanager
def named_failures(*, setting: str, backend: str, url: str) -> Iterator[None]:
    """Turns any failure inside the block into BackendUnavailable naming `setting`."""
    try:
        yield
    except BackendUnavailable:
        raise
    except Exception as error:
        raise BackendUnavailable(
            setting=setting,
            backend=backend,
            target=describe_target(url),
            cause=describe_cause(error),
        ) from error
