"""The `loyalty` command: serve, migrate, seed, token, expire-points, verify-ledger,
export-schema."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from server.settings import Settings, get_settings

T = TypeVar("T")


def _with_database(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    from server.database import close_database, init_database

    async def run() -> T:
        await init_database(settings)
        try:
            return await work()
        finally:
            await close_database()

    return asyncio.run(run())


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    settings.check_safe_to_start()
    uvicorn.run(
        "server.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=args.access_log,
    )
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from server.database import apply_migrations

    asyncio.run(apply_migrations(settings))
    print("Database is at the latest migration.")
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    from server.seed import DEMO_MEMBER_EMAIL, DEMO_PASSWORD, seed_demo_program

    report = _with_database(settings, seed_demo_program)
    print(
        f"Demo program ready: {report.stores} stores, {report.devices} devices, "
        f"{report.members} members.\n"
        f"Log in as {DEMO_MEMBER_EMAIL} / {DEMO_PASSWORD}, or mint a token with:\n"
        f"  loyalty token --member {DEMO_MEMBER_EMAIL}"
    )
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    if settings.is_production:
        print("`loyalty token` mints development tokens only.", file=sys.stderr)
        return 2
    from channels.credentials import issue_device_token, issue_member_token
    from gamification.models import Device, Member

    async def mint() -> str | None:
        if args.device is not None:
            device = await Device.get_or_none(id=args.device, revoked_at__isnull=True)
            return issue_device_token(device, settings) if device else None
        member = await Member.get_or_none(email=args.member.lower())
        return issue_member_token(member, settings) if member else None

    token = _with_database(settings, mint)
    if token is None:
        print("No such member or active device (did you run `loyalty seed`?)", file=sys.stderr)
        return 1
    print(token)
    return 0


def _progress_bar(description: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    from tqdm import tqdm

    bar = tqdm(desc=description, unit="account", file=sys.stderr)

    def advance(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return advance, bar.close


def cmd_expire_points(args: argparse.Namespace, settings: Settings) -> int:
    from gamification.points import expire_points

    advance, close = _progress_bar("expiring")

    async def run() -> int:
        try:
            return await expire_points(progress=advance)
        finally:
            close()

    print(f"Expired {_with_database(settings, run)} points.")
    return 0


def cmd_verify_ledger(args: argparse.Namespace, settings: Settings) -> int:
    from gamification.points import verify_all

    advance, close = _progress_bar("verifying")

    async def run() -> list[Any]:
        try:
            return await verify_all(progress=advance)
        finally:
            close()

    broken = _with_database(settings, run)
    for check in broken:
        print(
            f"account {check.account_id}: {check.problem} "
            f"(first broken entry: {check.first_broken_entry_id or 'after the last one'})"
        )
    print("Every account's hash chain verifies." if not broken else f"{len(broken)} broken.")
    return 1 if broken else 0


def cmd_export_schema(args: argparse.Namespace, settings: Settings) -> int:
    from schema.schema import build_schema

    Path(args.output).write_text(build_schema(settings).as_str() + "\n")
    print(f"Wrote {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loyalty", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--no-access-log", dest="access_log", action="store_false")
    serve.set_defaults(handler=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply the checked-in database migrations")
    migrate.set_defaults(handler=cmd_migrate)

    seed = sub.add_parser("seed", help="load the demo program (idempotent)")
    seed.set_defaults(handler=cmd_seed)

    token = sub.add_parser("token", help="mint a development token")
    who = token.add_mutually_exclusive_group(required=True)
    who.add_argument("--member", metavar="EMAIL", help="a member, staff or admin by email")
    who.add_argument("--device", metavar="ID", type=int, help="a registered device by id")
    token.set_defaults(handler=cmd_token)

    expire = sub.add_parser("expire-points", help="expire points past their date (exactly once)")
    expire.set_defaults(handler=cmd_expire_points)

    verify = sub.add_parser("verify-ledger", help="check every account's hash chain")
    verify.set_defaults(handler=cmd_verify_ledger)

    export = sub.add_parser("export-schema", help="write the GraphQL SDL")
    export.add_argument("--output", default="schema.graphql")
    export.set_defaults(handler=cmd_export_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args, get_settings()))


if __name__ == "__main__":
    sys.exit(main())
