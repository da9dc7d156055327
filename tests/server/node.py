"""The npm packages the tests use (tests/server/js: package.json, package-lock.json): the
graphql-ws client the Node test drives, and axe-core, which the reference pages' browser tests
run in the page. Their node_modules are installed with `npm ci` when missing or when the lock
file changed, and kept afterwards.

Without Node and npm those tests fail in CI (`CI` or `LOYALTY_REQUIRE_POSTGRES=1`: Node is
there) and are skipped elsewhere, never passed."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

JS_DIR = Path(__file__).resolve().parent / "js"
LOCK_FILE = JS_DIR / "package-lock.json"
NODE_MODULES = JS_DIR / "node_modules"
# Written after a successful `npm ci`: the lock file's hash the installed modules match.
INSTALLED_STAMP = NODE_MODULES / ".installed-lock-sha256"
NPM_CI_TIMEOUT_SECONDS = 300


def node_required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("LOYALTY_REQUIRE_POSTGRES") == "1"


def _install_modules(npm: str) -> None:
    """`npm ci` into tests/server/js unless its node_modules match the lock file. A file lock
    on the lock file keeps two test processes from installing at once."""
    wanted = hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()
    with LOCK_FILE.open("rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if INSTALLED_STAMP.exists() and INSTALLED_STAMP.read_text() == wanted:
                return
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=JS_DIR,
                check=True,
                timeout=NPM_CI_TIMEOUT_SECONDS,
                capture_output=True,
            )
            INSTALLED_STAMP.write_text(wanted)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def installed_node_modules(purpose: str) -> str:
    """The path of Node, once tests/server/js/node_modules is installed. Skips the test
    without Node and npm (fails where `node_required`), and fails when `npm ci` does."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = f"Node.js and npm are needed for {purpose}"
        if node_required():
            pytest.fail(f"{message} (they are on CI's machines)")
        pytest.skip(message)
    try:
        _install_modules(npm)
    except subprocess.CalledProcessError as failed:
        pytest.fail(f"npm ci failed:\n{failed.stderr.decode(errors='replace')}")
    return node
