"""Subscriptions on one server process: N WebSocket clients, each subscribed to its member's
`pointsChanged` and to a cause's `leaderboardChanged`, then

- commit -> delivery of `pointsChanged` (p50, p99): admins credit random subscribed members;
  the latency is the delivery time minus the ledger entry's `createdAt` (written just before
  the commit, by the server's clock on this same machine);
- one leaderboard update fanned out to all N (p50, p99, last): a donation, timed from the
  mutation's start (its commit is a few ms later) to each client's delivery;
- memory per connection: the server's RSS with the N clients subscribed, minus before, over N.

    python -m bench.subscriptions --clients 1000 5000 10000

SQLite and the in-process Redis stand-in by default (one process needs nothing else); pass
--database-url / --redis-url for PostgreSQL and Redis. Clients run in this process (one
event loop), so at the largest sizes the client side is part of what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.serverctl import free_port, run_cli, running_server, server_environment

SECRET = "bench-secret-that-is-at-least-32-bytes-long"
PROTOCOL = "graphql-transport-ws"
POINTS = "subscription { pointsChanged { version balance entry { createdAt } } }"
BOARD = """
subscription Board($board: String!) { leaderboardChanged(board: $board, top: 10) { version total } }
"""
ADJUST = """
mutation Adjust($memberId: ID!, $key: String!) {
  adjustPoints(memberId: $memberId, points: 5, reason: "bench", idempotencyKey: $key) {
    errors { code }
  }
}
"""
DONATE = """
mutation Donate($causeId: ID!, $key: String!) {
  donatePoints(causeId: $causeId, points: 10, idempotencyKey: $key) { errors { code } }
}
"""


@dataclass
class Prepared:
    member_ids: list[int]
    member_tokens: list[str]
    admin_token: str
    donor_token: str
    cause_id: str


async def _prepare(database_url: str, members: int) -> Prepared:
    """Members, an admin, a donor with points and a cause, written with the app's own code."""
    from channels.credentials import issue_member_token
    from gamification.causes import catalog as causes_catalog
    from gamification.ledger import accounts, movements
    from gamification.ledger.entries import Origin, Reference
    from gamification.ledger.models import EntryKind
    from gamification.members.models import Member, Role
    from gamification.members.profiles import new_card_number
    from schema.relay import to_global_id
    from server.database import close_database, init_database
    from server.settings import Settings

    settings = Settings(database_url=database_url, jwt_secret=SECRET)  # type: ignore[arg-type]
    await init_database(settings)
    try:
        tag = uuid.uuid4().hex[:8]
        await Member.bulk_create(
            [
                Member(
                    email=f"bench-{tag}-{n}@example.com",
                    display_name=f"Bench {n}",
                    card_number=new_card_number(),
                )
                for n in range(members + 2)
            ],
            batch_size=1000,
        )
        rows = await Member.filter(email__startswith=f"bench-{tag}-").order_by("id")
        admin, donor, subscribers = rows[0], rows[1], rows[2:]
        admin.role = Role.ADMIN
        await admin.save(update_fields=["role"])
        from tortoise.transactions import in_transaction

        async with in_transaction() as conn:
            account = await accounts.lock_member_account(donor.id, conn)
            await movements.credit(
                account,
                1_000_000,
                kind=EntryKind.BONUS,
                origin=Origin.system(),
                reference=Reference("bench", "", "bench"),
                expires_at=datetime(2100, 1, 1).astimezone(),
            )
            await accounts.save_account(account)
        cause = await causes_catalog.create_cause(
            causes_catalog.CauseInput(
                name=f"Bench cause {tag}",
                impact_unit="tree",
                points_per_unit=100,
                starts_at=datetime(2020, 1, 1).astimezone(),
            )
        )
        return Prepared(
            member_ids=[m.id for m in subscribers],
            member_tokens=[issue_member_token(m, settings) for m in subscribers],
            admin_token=issue_member_token(admin, settings),
            donor_token=issue_member_token(donor, settings),
            cause_id=to_global_id("Cause", cause.id),
        )
    finally:
        await close_database()


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Client:
    def __init__(self, socket: ClientConnection, member_id: int) -> None:
        self.socket = socket
        self.member_id = member_id
        self.points: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.board: asyncio.Queue[float] = asyncio.Queue()

    async def read(self) -> None:
        async for raw in self.socket:
            at = time.time()
            message = json.loads(raw)
            if message.get("type") != "next":
                continue
            if message["id"] == "p":
                self.points.put_nowait((at, message["payload"]["data"]["pointsChanged"]))
            elif message["id"] == "b":
                self.board.put_nowait(at)


async def _connect(url: str, token: str, member_id: int, board: str) -> Client:
    socket = await connect(url, subprotocols=[PROTOCOL], max_queue=None)  # type: ignore[list-item]
    await socket.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
    assert json.loads(await socket.recv())["type"] == "connection_ack"
    client = Client(socket, member_id)
    for operation, query, variables in (
        ("p", POINTS, {}),
        ("b", BOARD, {"board": board}),
    ):
        await socket.send(
            json.dumps(
                {
                    "id": operation,
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables},
                }
            )
        )
    return client


async def _measure(url: str, http_url: str, prepared: Prepared, n: int, pid: int) -> dict[str, Any]:
    board = f"cause:{prepared.cause_id}"
    rss_before = _rss_kib(pid)
    clients: list[Client] = []
    started = time.perf_counter()
    for start in range(0, n, 200):
        batch = range(start, min(n, start + 200))
        clients += await asyncio.gather(
            *(
                _connect(url, prepared.member_tokens[i], prepared.member_ids[i], board)
                for i in batch
            )
        )
    readers = [asyncio.create_task(c.read()) for c in clients]
    for client in clients:  # every subscription has sent its first state
        await asyncio.wait_for(client.points.get(), 60)
        await asyncio.wait_for(client.board.get(), 60)
    connect_seconds = time.perf_counter() - started
    await asyncio.sleep(1.5)
    rss_after = _rss_kib(pid)

    async with httpx.AsyncClient(base_url=http_url, timeout=30) as http:

        async def call(token: str, query: str, variables: dict[str, Any]) -> None:
            response = await http.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers={"Authorization": f"Bearer {token}"},
            )
            body = response.json()
            assert "errors" not in body, body
            assert not next(iter(body["data"].values()))["errors"], body

        # commit -> delivery, one credited member at a time (4 in flight)
        latencies: list[float] = []
        chosen = random.Random(7).sample(clients, min(200, n))

        async def credit(client: Client) -> None:
            from schema.relay import to_global_id

            await call(
                prepared.admin_token,
                ADJUST,
                {"memberId": to_global_id("Member", client.member_id), "key": uuid.uuid4().hex},
            )
            at, change = await asyncio.wait_for(client.points.get(), 30)
            committed = datetime.fromisoformat(change["entry"]["createdAt"]).timestamp()
            latencies.append((at - committed) * 1000)

        for start in range(0, len(chosen), 4):
            await asyncio.gather(*(credit(c) for c in chosen[start : start + 4]))

        # one board update fanned out to everyone
        await asyncio.sleep(1.2)  # past the board's coalescing interval
        sent = time.time()
        donation = {"causeId": prepared.cause_id, "key": uuid.uuid4().hex}
        await call(prepared.donor_token, DONATE, donation)
        donate_ms = (time.time() - sent) * 1000
        fanout = [(await asyncio.wait_for(c.board.get(), 120) - sent) * 1000 for c in clients]

    for reader in readers:
        reader.cancel()
    await asyncio.gather(*(c.socket.close() for c in clients), return_exceptions=True)
    return {
        "clients": n,
        "connect_s": round(connect_seconds, 1),
        "points_p50_ms": round(statistics.median(latencies), 2),
        "points_p99_ms": round(_pct(latencies, 99), 2),
        "donate_ms": round(donate_ms, 1),
        "fanout_p50_ms": round(statistics.median(fanout), 1),
        "fanout_p99_ms": round(_pct(fanout, 99), 1),
        "fanout_last_ms": round(max(fanout), 1),
        "kib_per_connection": round((rss_after - rss_before) / n, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url", default="memory://")
    args = parser.parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-subscriptions-") as tmp:
        database_url = args.database_url or f"sqlite://{tmp}/bench.sqlite3"
        env = server_environment(database_url, args.redis_url, SECRET)
        run_cli(env, "migrate")
        prepared = asyncio.run(_prepare(database_url, max(args.clients)))
        for n in args.clients:
            port = free_port()
            with running_server(env, workers=1, port=port, log_path=Path(tmp) / f"{n}.log") as s:
                rows.append(
                    asyncio.run(
                        _measure(
                            f"ws://{s.host}:{s.port}/graphql",
                            f"http://{s.host}:{s.port}",
                            prepared,
                            n,
                            s.pid,
                        )
                    )
                )
            print(json.dumps(rows[-1]), flush=True)
    columns = list(rows[0])
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[c]) for c in columns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
