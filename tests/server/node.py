"""The npm packages the tests use, each folder with its package.json and package-lock.json:
tests/server/js (the graphql-ws client the Node test drives, and axe-core, which the reference
pages' browser tests run in the page) and clients/typescript (the client kit). Their
node_modules are installed with `npm ci` when missing or when the lock file changed, and kept
afterwards.

Without Node and npm those tests fail in CI (`CI`, `LOYALTY_REQUIRE_NODE=1`, which `.ci/run`
sets in both passes, or `LOYALTY_REQUIRE_POSTGRES=1`: Node is there) and are skipped elsewhere,
never passed."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

JS_DIR = Path(__file__).resolve().parent / "js"
NODE_MODULES = JS_DIR / "node_modules"
# Written after a successful `npm ci`: the lock file's hash the installed modules match.
INSTALLED_STAMP = ".installed-lock-sha256"
NPM_CI_TIMEOUT_SECONDS = 300


def node_required() -> bool:
    return bool(os.environ.get("CI")) or "1" in (
        os.environ.get("LOYALTY_REQUIRE_NODE"),
        os.environ.get("LOYALTY_REQUIRE_POSTGRES"),
    )


@dataclass(frozen=True)
class NodeTools:
    node: str
    npm: str


def _install_modules(npm: str, directory: Path) -> None:
    """`npm ci` into `directory` unless its node_modules match the lock file. A file lock on the
    lock file keeps two test processes from installing at once."""
    lock_file = directory / "package-lock.json"
    stamp = directory / "node_modules" / INSTALLED_STAMP
    wanted = hashlib.sha256(lock_file.read_bytes()).hexdigest()
    with lock_file.open("rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if stamp.exists() and stamp.read_text() == wanted:
                return
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=directory,
                check=True,
                timeout=NPM_CI_TIMEOUT_SECONDS,
                capture_output=True,
            )
            stamp.write_text(wanted)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def installed_node_modules(purpose: str, directory: Path = JS_DIR) -> NodeTools:
    """Node and npm, once `directory`'s node_modules are installed. Skips the test without
    Node and npm (fails where `node_required`), and fails when `npm ci` does."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = f"Node.js and npm are needed for {purpose}"
        if node_required():
            pytest.fail(f"{message} (they are on CI's machines)")
        pytest.skip(message)
    try:
        _install_modules(npm, directory)
    except subprocess.CalledProcessError as failed:
        pytest.fail(f"npm ci failed:\n{failed.stderr.decode(errors='replace')}")
    return NodeTools(node=node, npm=npm)
