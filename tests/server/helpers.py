"""Helpers shared by the server's tests."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from gamification.events.realtime import member_channel

# This run's channels (another run on the same Redis has another namespace).
NS = member_channel(0).removesuffix("member:0")

_PROJECT_ROOT = Path(__file__).resolve().parents[2]


async def loyalty_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`loyalty <args>` in a process of its own with `env`, as an operator (or cron) runs it."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "server.cli", *args],
        cwd=_PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
