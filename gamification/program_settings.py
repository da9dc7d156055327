"""The settings the domain reads, set once at the edge and read through one accessor.

The app (`server.app.create_app(settings)`) and every `loyalty` command (`server.cli.main`)
configure them from the `Settings` they were given; domain code reads `current()`, never the
environment. Tests configure theirs once per test and change one through the `override_settings`
fixture; nothing patches a module's settings function.
"""

from __future__ import annotations

from server.settings import Settings

_current: Settings | None = None


def configure(settings: Settings) -> None:
    """The settings the domain reads from now on, in this process."""
    global _current
    _current = settings


def current() -> Settings:
    """Raises RuntimeError when nothing configured them (an edge that forgot to)."""
    if _current is None:
        raise RuntimeError(
            "The program's settings are not configured: create_app() and the loyalty CLI do it"
        )
    return _current
