"""The `loyalty` command: serve, migrate, seed, token, expire-points, expire-holds, evaluate-tiers,
verify-ledger, rebuild-leaderboards, check-leaderboards, export-schema."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from server.settings import Settings, get_settings

if TYPE_CHECKING:
    from gamification.leaderboards import ReconcileReport

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

    from server import workers

    settings.check_safe_to_start()
    options: dict[str, Any] = dict(
        app="server.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
        ws_per_message_deflate=settings.ws_per_message_deflate,
        ws_max_size=settings.ws_max_message_bytes,
    )
    if args.workers > 1 and workers.supported():
        # A listening socket per process: see server/workers.py for why not uvicorn's own.
        return workers.run(args.workers, options)
    uvicorn.run(workers=args.workers, **options)
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


def cmd_evaluate_tiers(args: argparse.Namespace, settings: Settings) -> int:
    from gamification.tiers import evaluate_due_tiers

    advance, close = _progress_bar("evaluating tiers")

    async def run() -> int:
        try:
            return await evaluate_due_tiers(progress=advance)
        finally:
            close()

    print(f"Evaluated {_with_database(settings, run)} ended qualification periods.")
    return 0


def cmd_expire_holds(args: argparse.Namespace, settings: Settings) -> int:
    from gamification.holds import expire_holds

    print(f"Released {_with_database(settings, expire_holds)} expired holds.")
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


# Differences printed by the leaderboard commands; the rest are counted.
_SHOWN_DIFFERENCES = 50


def _reconcile_leaderboards(
    settings: Settings, *, rebuild: bool
) -> tuple[ReconcileReport | None, ReconcileReport]:
    """Rebuild-then-check, or check only: the reports (fixed, found). Raises RedisError."""
    from gamification import leaderboards
    from server.redis import create_redis

    async def run() -> tuple[ReconcileReport | None, ReconcileReport]:
        redis = create_redis(settings)
        try:
            fixed = None
            if rebuild:
                advance, close = _progress_bar("rebuilding")
                try:
                    fixed = await leaderboards.rebuild(redis, progress=advance)
                finally:
                    close()
            advance, close = _progress_bar("checking")
            try:
                return fixed, await leaderboards.check(redis, progress=advance)
            finally:
                close()
        finally:
            await redis.aclose()

    return _with_database(settings, run)


def _print_differences(report: ReconcileReport) -> None:
    problems = [
        *map(str, report.differences),
        *(f"{k}: past its period" for k in report.stale_keys),
    ]
    for line in problems[:_SHOWN_DIFFERENCES]:
        print(line)
    if len(problems) > _SHOWN_DIFFERENCES:
        print(f"... and {len(problems) - _SHOWN_DIFFERENCES} more")


def cmd_rebuild_leaderboards(args: argparse.Namespace, settings: Settings) -> int:
    from redis.exceptions import RedisError

    try:
        fixed, found = _reconcile_leaderboards(settings, rebuild=True)
    except RedisError as exc:
        print(f"Redis cannot be reached: {exc}", file=sys.stderr)
        return 2
    assert fixed is not None
    print(
        f"Rebuilt the leaderboards from the ledger ({fixed.members} members): "
        f"{len(fixed.differences)} places fixed, {len(fixed.stale_keys)} expired keys removed."
    )
    print(f"Challenge boards recomputed from the challenge progress: {fixed.challenge_boards}.")
    if found.clean:
        print("The boards equal the ledger.")
        return 0
    _print_differences(found)
    print(f"{len(found.differences)} differences remain (updates in flight? check again).")
    return 1


def cmd_check_leaderboards(args: argparse.Namespace, settings: Settings) -> int:
    from redis.exceptions import RedisError

    try:
        _, found = _reconcile_leaderboards(settings, rebuild=False)
    except RedisError as exc:
        print(f"Redis cannot be reached: {exc}", file=sys.stderr)
        return 2
    _print_differences(found)
    if found.clean:
        print(
            f"The boards equal the ledger ({found.members} members) and the challenge "
            f"progress ({found.challenge_boards} challenge boards)."
        )
        return 0
    print(f"{len(found.differences) + len(found.stale_keys)} differences from the ledger.")
    return 1


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

    tiers = sub.add_parser(
        "evaluate-tiers", help="keep or lower tiers whose qualification period ended (once)"
    )
    tiers.set_defaults(handler=cmd_evaluate_tiers)

    holds = sub.add_parser("expire-holds", help="release till holds past their expiry (once)")
    holds.set_defaults(handler=cmd_expire_holds)

    verify = sub.add_parser("verify-ledger", help="check every account's hash chain")
    verify.set_defaults(handler=cmd_verify_ledger)

    rebuild = sub.add_parser(
        "rebuild-leaderboards", help="make every leaderboard equal the ledger, then check"
    )
    rebuild.set_defaults(handler=cmd_rebuild_leaderboards)

    check = sub.add_parser(
        "check-leaderboards", help="compare the leaderboards with the ledger; exit 1 on differences"
    )
    check.set_defaults(handler=cmd_check_leaderboards)

    export = sub.add_parser("export-schema", help="write the GraphQL SDL")
    export.add_argument("--output", default="schema.graphql")
    export.set_defaults(handler=cmd_export_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args, get_settings()))


if __name__ == "__main__":
    sys.exit(main())
