"""Fault test: PostgreSQL restarted under load. Every purchase the API acknowledged must be in
the ledger afterwards; the calls that failed must have failed with a clear, retryable error; a
retry of those with the same idempotency keys lands each exactly once; the ledger verifies.

    .venv/bin/python bench/pg_restart.py
    .venv/bin/python bench/pg_restart.py --concurrency 20 --duration 15 --restart-after 4

Needs the machine's PostgreSQL 15 cluster (`pg_ctlcluster --skip-systemctl-redirect 15 main
restart`, so run it as a user allowed to restart it) and creates, then drops, its own database.
Prints a summary; exits 1 when an acknowledged purchase is missing or the ledger does not verify.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as `python bench/pg_restart.py`: make `bench` importable from the repo root.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import httpx
import jwt

from bench.scenarios import TOKEN_SOURCES
from bench.serverctl import free_port, run_cli, running_server, server_environment

RECORD_PURCHASE = """
mutation Record($input: RecordPurchaseInput!, $key: String!) {
  recordPurchase(input: $input, idempotencyKey: $key) { pointsEarned errors { code message } }
}
"""
RESTART = ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"]


@dataclass
class Tally:
    acknowledged: set[str] = field(default_factory=set)  # idempotency keys (= external ids)
    failed: dict[str, str] = field(default_factory=dict)  # key -> how it failed
    kinds: collections.Counter[str] = field(default_factory=collections.Counter)
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))


def _purchase(member_id: str, key: str) -> dict[str, Any]:
    return {
        "key": key,
        "input": {
            "memberId": member_id,
            "amount": "10.00",
            "currency": "EUR",
            "externalId": key,
            "occurredAt": datetime.now(UTC).isoformat(),
        },
    }


async def _call(http: httpx.AsyncClient, member_id: str, key: str) -> tuple[bool, str]:
    """(acknowledged, how it failed)."""
    try:
        response = await http.post(
            "/graphql", json={"query": RECORD_PURCHASE, "variables": _purchase(member_id, key)}
        )
    except httpx.HTTPError as exc:
        return False, f"transport: {type(exc).__name__}"
    if response.status_code != 200:
        return False, f"HTTP {response.status_code}"
    body = response.json()
    if body.get("errors"):
        error = body["errors"][0]
        return False, f"{(error.get('extensions') or {}).get('code', '-')}: {error['message']}"
    payload = body["data"]["recordPurchase"]
    if payload["errors"]:
        return False, f"payload {payload['errors'][0]['code']}"
    return payload["pointsEarned"] is not None, ""


async def _worker(
    http: httpx.AsyncClient, member_id: str, run_id: str, index: int, until: float, tally: Tally
) -> None:
    n = 0
    while time.monotonic() < until:
        n += 1
        key = f"{run_id}-{index}-{n}"
        ok, how = await _call(http, member_id, key)
        if ok:
            tally.acknowledged.add(key)
        else:
            tally.failed[key] = how
            tally.kinds[how] += 1
            await asyncio.sleep(0.05)


async def _load(args: argparse.Namespace, url: str, token: str, member_id: str) -> Tally:
    tally = Tally()
    run_id = tally.run_id
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=15) as http:
        until = time.monotonic() + args.duration
        workers = [
            asyncio.create_task(_worker(http, member_id, run_id, i, until, tally))
            for i in range(args.concurrency)
        ]
        await asyncio.sleep(args.restart_after)
        print(f"restarting PostgreSQL: {' '.join(RESTART)}", file=sys.stderr, flush=True)
        started = time.monotonic()
        restart = await asyncio.create_subprocess_exec(*RESTART)
        await restart.wait()
        print(f"restarted in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
        await asyncio.gather(*workers)
        # The retry a client would make: the same key, so at most once whatever happened.
        retried = {key: await _call(http, member_id, key) for key in list(tally.failed)}
    tally.acknowledged |= {key for key, (ok, _) in retried.items() if ok}
    still_failing = {key: how for key, (ok, how) in retried.items() if not ok}
    tally.failed = still_failing
    return tally


async def _check(dsn: str, keys: set[str], run_prefix: str) -> tuple[set[str], int, list[int]]:
    """(acknowledged keys missing from the ledger, this run's purchases in the database,
    member accounts whose balance is not the sum of their entries)."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT external_id FROM purchase WHERE external_id LIKE $1", f"{run_prefix}-%"
        )
        found = {row["external_id"] for row in rows}
        unbalanced = await connection.fetch(
            "SELECT a.id FROM ledger_account a LEFT JOIN ledger_entry e ON e.account_id = a.id "
            "WHERE a.kind = 'MEMBER' GROUP BY a.id, a.balance "
            "HAVING a.balance <> COALESCE(SUM(e.points), 0)"
        )
    finally:
        await connection.close()
    return keys - found, len(found), [row["id"] for row in unbalanced]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host-dsn", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--duration", type=float, default=12, help="seconds of load")
    parser.add_argument("--restart-after", type=float, default=3, help="seconds into the load")
    parser.add_argument("--server-log", type=Path, help="keep the server's log here")
    args = parser.parse_args(argv)

    database = f"loyalty_pg_restart_{secrets.token_hex(3)}"
    dsn = f"{args.host_dsn}/{database}"
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", database], check=True)
    try:
        with tempfile.TemporaryDirectory(prefix="loyalty-pg-restart-") as tmp:
            env = server_environment(dsn, "memory://", secrets.token_urlsafe(48))
            run_cli(env, "migrate")
            run_cli(env, "seed")
            token = run_cli(env, "token", *TOKEN_SOURCES["pos"]).strip()
            member_token = run_cli(env, "token", *TOKEN_SOURCES["member"]).strip()
            member_db_id = int(jwt.decode(member_token, options={"verify_signature": False})["sub"])
            member_id = _global_id("Member", member_db_id)
            port = free_port()
            log = Path(tmp) / "server.log"
            with running_server(env, workers=2, port=port, log_path=log) as srv:
                tally = asyncio.run(_load(args, f"http://{srv.host}:{srv.port}", token, member_id))
            if args.server_log:
                args.server_log.write_bytes(log.read_bytes())
            verify = subprocess.run(
                [sys.executable, "-m", "server.cli", "verify-ledger"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            missing, stored, unbalanced = asyncio.run(_check(dsn, tally.acknowledged, tally.run_id))
    finally:
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", database], check=False
        )

    print(
        json.dumps(
            {
                "acknowledged": len(tally.acknowledged),
                "purchases_stored": stored,
                "acknowledged_missing": sorted(missing),
                "failed_during_restart_by_kind": dict(tally.kinds.most_common()),
                "still_failing_after_retry": tally.failed,
                "unbalanced_accounts": unbalanced,
                "verify_ledger_exit": verify.returncode,
                "verify_ledger_output": verify.stdout.strip()[-300:],
            },
            indent=2,
        )
    )
    ok = not missing and not unbalanced and verify.returncode == 0 and not tally.failed
    ok = ok and stored == len(tally.acknowledged)
    return 0 if ok else 1


def _global_id(type_name: str, pk: int) -> str:
    import base64

    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


if __name__ == "__main__":
    sys.exit(main())
