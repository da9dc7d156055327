"""The `loyalty` command: serve the API and run the operator's jobs on its database and Redis.

Configuration comes from `LOYALTY_*` environment variables (server/settings.py), for every
command alike.

Exit status: 0 done; 1 the command ran and found a problem (differences, a broken chain, no
such member); 2 a usage or configuration error (an option, a `LOYALTY_*` value, an in-process
Redis where a shared one is needed); 3 the database or Redis cannot be reached (as uvicorn's
own start-up failure).

Long because every command is declared here with its options, help and exit codes, as
`loyalty --help` shows them; what a command does lives in the module it calls.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, get_args

from gamification import program_settings
from server.settings import (
    ConfigurationError,
    InsecureConfiguration,
    LogLevel,
    Settings,
    get_settings,
)

if TYPE_CHECKING:
    from gamification.leaderboards.reconcile import ReconcileReport
    from gamification.ledger.entries import ChainCheck

T = TypeVar("T")

EXIT_PROBLEM_FOUND = 1
EXIT_USAGE = 2
EXIT_BACKEND_UNAVAILABLE = 3  # uvicorn's STARTUP_FAILURE too


class NeedsSharedRedis(RuntimeError):
    """The command works on the Redis the server uses, and `LOYALTY_REDIS_URL` names none."""


def _with_database(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    """Runs `work` connected to the database. Raises BackendUnavailable when it cannot be."""
    from server.database import close_database, init_database

    async def run() -> T:
        await init_database(settings)
        try:
            return await work()
        finally:
            await close_database()

    return asyncio.run(run())


def _check_backends(settings: Settings) -> None:
    """Raises BackendUnavailable unless the database and Redis both answer."""
    from server.redis import check_redis, create_redis

    async def ping_redis() -> None:
        redis = create_redis(settings)
        try:
            await check_redis(redis, settings)
        finally:
            await redis.aclose()

    _with_database(settings, ping_redis)


def _require_shared_redis(settings: Settings, command: str) -> None:
    """Raises NeedsSharedRedis when Redis is the in-process stand-in (`memory://`)."""
    from server.redis import MEMORY_SCHEME

    if settings.redis_url.startswith(MEMORY_SCHEME):
        raise NeedsSharedRedis(
            f"loyalty {command} works on the Redis the server uses, but LOYALTY_REDIS_URL is "
            f"{MEMORY_SCHEME}, a store that lives inside each process (a server on it rebuilds "
            "its boards from the ledger whenever it starts). Set LOYALTY_REDIS_URL to the "
            "server's Redis, e.g. LOYALTY_REDIS_URL=redis://127.0.0.1:6379/0."
        )


# --- ids: as numbers or as the global IDs the API returns ------------------------------------


def _record_id(type_name: str) -> Callable[[str], int]:
    """An argparse type: a `type_name` row's id, given as its number or its global ID."""
    from base64 import urlsafe_b64encode

    example = urlsafe_b64encode(f"{type_name}:1".encode()).decode().rstrip("=")

    def parse(value: str) -> int:
        if value.isascii() and value.isdigit() and int(value) > 0:
            return int(value)
        from gamification.errors import InvalidInput
        from schema.relay import pk_of

        try:
            return pk_of(value, type_name)
        except InvalidInput:
            raise argparse.ArgumentTypeError(
                f"{value!r} is not a {type_name.lower()} id: give its number (1) or the ID "
                f"the API returns ({example})"
            ) from None

    return parse


def _member_reference(value: str) -> str | int:
    """An email (with an @), else a member id as a number or the API's Member ID."""
    return value if "@" in value else _record_id("Member")(value)


# --- progress -------------------------------------------------------------------------------


def _progress_bar(description: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A bar on stderr when it is a terminal; nothing when it is a pipe or a file (a log would
    get every redraw)."""
    from tqdm import tqdm

    bar = tqdm(desc=description, unit="account", file=sys.stderr, disable=not sys.stderr.isatty())

    def advance(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return advance, bar.close


# --- commands -------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from server import workers
    from server.observability import log_config

    settings.check_safe_to_start()
    debug = getattr(args, "debug", False)  # also called with a hand-made Namespace
    if debug and settings.log_level not in ("debug", "trace"):
        # The app is built by uvicorn (in each worker process) from the environment.
        os.environ["LOYALTY_LOG_LEVEL"] = "debug"
        get_settings.cache_clear()
    log_level = args.log_level or ("debug" if debug else settings.log_level)
    options: dict[str, Any] = dict(
        app="server.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        log_level=log_level,
        access_log=args.access_log,
        ws_per_message_deflate=settings.ws_per_message_deflate,
        ws_max_size=settings.ws_max_message_bytes,
    )
    json_logs = log_config(settings)
    if json_logs is not None:  # else uvicorn's own configuration
        options["log_config"] = json_logs
    if args.workers > 1 and workers.supported():
        # Here, once: a worker whose start-up fails is restarted by the supervisor.
        _check_backends(settings)
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
        return EXIT_USAGE
    from channels.credentials import issue_device_token, issue_member_token
    from gamification.members.models import Member
    from gamification.stores.models import Device

    async def mint() -> str | None:
        if args.device is not None:
            device = await Device.get_or_none(id=args.device, revoked_at__isnull=True)
            return issue_device_token(device, settings) if device else None
        if isinstance(args.member, int):
            member = await Member.get_or_none(id=args.member)
        else:
            member = await Member.get_or_none(email=args.member.lower())
        return issue_member_token(member, settings) if member else None

    token = _with_database(settings, mint)
    if token is None:
        print("No such member or active device (did you run `loyalty seed`?)", file=sys.stderr)
        return EXIT_PROBLEM_FOUND
    print(token)
    return 0


def cmd_export_member(args: argparse.Namespace, settings: Settings) -> int:
    from gamification.errors import NotFound
    from gamification.members.models import Member
    from gamification.privacy import export

    async def write() -> bool:
        found = await Member.get_or_none(
            **({"id": args.member} if isinstance(args.member, int) else {"email": args.member})
        )
        if found is None:
            return False
        # A file opened once, before the database is read; the writes are small and buffered.
        out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: ASYNC230, SIM115
        try:
            async for chunk in export.export_chunks(found.id):  # written as it is read
                out.write(chunk)
            out.write("\n")
        except NotFound:
            return False
        finally:
            if out is not sys.stdout:
                out.close()
        return True

    if not _with_database(settings, write):
        print("No such member.", file=sys.stderr)
        return EXIT_PROBLEM_FOUND
    return 0


def cmd_erase_member(args: argparse.Namespace, settings: Settings) -> int:
    from channels.redemption_requests import forget_member
    from gamification.errors import LoyaltyError
    from gamification.members.models import Member
    from gamification.privacy import erasure
    from server.redis import MEMORY_SCHEME, create_redis

    async def erase() -> str:
        found = await Member.get_or_none(
            **({"id": args.member} if isinstance(args.member, int) else {"email": args.member})
        )
        if found is None:
            return "No such member."
        try:
            result = await erasure.erase_member(
                actor=erasure.OPERATOR, member_id=found.id, reason=args.reason
            )
        except LoyaltyError as error:
            return f"Refused: {error.message}"
        if not settings.redis_url.startswith(MEMORY_SCHEME):
            redis = create_redis(settings)
            try:
                await forget_member(redis, found.id)
                await erasure.forget_cached_views(redis, found.id)
            finally:
                await redis.aclose()
        record = result.record
        if result.already_erased:
            print(f"Member {found.id} was erased already, at {record.erased_at.isoformat()}.")
        else:
            print(
                f"Erased member {found.id}: {record.forfeited_points} points forfeited, "
                f"{record.released_holds} holds released."
            )
        return ""

    problem = _with_database(settings, erase)
    if problem:
        print(problem, file=sys.stderr)
        return EXIT_PROBLEM_FOUND
    return 0


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from gamification.privacy import retention

    purged = _with_database(settings, retention.purge)
    for name, count in purged.items():
        print(f"{name}: {count} deleted")
    return 0


def _with_progress_bar(
    settings: Settings,
    description: str,
    work: Callable[[Callable[[int, int], None]], Awaitable[T]],
) -> T:
    """Run `work(advance)` with the database, showing its progress as `description` (on
    terminals only: see `_progress_bar`)."""
    advance, close = _progress_bar(description)

    async def run() -> T:
        try:
            return await work(advance)
        finally:
            close()

    return _with_database(settings, run)


async def _bumping_views(settings: Settings, job: Awaitable[T]) -> T:
    """Run a scheduled job, then give the members it changed new view versions, so that no
    home screen kept from before it is served again (gamification.view_versions)."""
    from gamification import view_versions
    from server.redis import create_redis

    redis = create_redis(settings)
    try:
        return await view_versions.bumping(redis, job)
    finally:
        await redis.aclose()


def cmd_expire_points(args: argparse.Namespace, settings: Settings) -> int:
    from gamification.ledger.points import expire_points

    expired = _with_progress_bar(
        settings,
        "expiring",
        lambda advance: _bumping_views(settings, expire_points(progress=advance)),
    )
    print(f"Expired {expired} points.")
    return 0


def cmd_evaluate_tiers(args: argparse.Namespace, settings: Settings) -> int:
    from gamification.tiers.ladder import evaluate_due_tiers

    evaluated = _with_progress_bar(
        settings,
        "evaluating tiers",
        lambda advance: _bumping_views(settings, evaluate_due_tiers(progress=advance)),
    )
    print(f"Evaluated {evaluated} ended qualification periods.")
    return 0


def cmd_expire_holds(args: argparse.Namespace, settings: Settings) -> int:
    from gamification.rewards.holds import expire_holds

    released = _with_database(settings, lambda: _bumping_views(settings, expire_holds()))
    print(f"Released {released} expired holds.")
    return 0


def cmd_notify(args: argparse.Namespace, settings: Settings) -> int:
    from gamification.notifications.scheduler import notify
    from server.redis import create_redis

    async def run() -> str:
        redis = create_redis(settings)
        try:
            report = await notify(redis=redis)
        finally:
            await redis.aclose()
        return (
            f"Sent {len(report.created)} notices ({report.due} due: {report.already_sent} "
            f"sent before, {report.not_wanted} turned off or without consent)."
        )

    print(_with_database(settings, run))
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from server import worker

    asyncio.run(worker.run(settings))
    return 0


def cmd_verify_ledger(args: argparse.Namespace, settings: Settings) -> int:
    from gamification.ledger.points import verify_all
    from gamification.tiers import qualifying

    async def verify(
        advance: Callable[[int, int], None],
    ) -> tuple[list[ChainCheck], list[qualifying.Difference]]:
        # The chains, then the maintained qualifying-point totals against the events.
        return await verify_all(progress=advance), await qualifying.differences()

    broken, differences = _with_progress_bar(settings, "verifying", verify)
    for check in broken:
        print(
            f"account {check.account_id}: {check.problem} "
            f"(first broken entry: {check.first_broken_entry_id or 'after the last one'})"
        )
    print("Every account's hash chain verifies." if not broken else f"{len(broken)} broken.")
    for difference in differences[:_SHOWN_DIFFERENCES]:
        print(
            f"member {difference.member_id}: qualifying points of the {difference.span} of "
            f"{difference.starts_on} kept as {difference.kept}, events say {difference.events}"
        )
    if len(differences) > _SHOWN_DIFFERENCES:
        print(f"... and {len(differences) - _SHOWN_DIFFERENCES} more.")
    print(
        "Every qualifying-point total matches the events."
        if not differences
        else f"{len(differences)} qualifying-point totals differ from the events."
    )
    return EXIT_PROBLEM_FOUND if broken or differences else 0


# Differences printed by the leaderboard commands; the rest are counted.
_SHOWN_DIFFERENCES = 50


def _reconcile_leaderboards(
    settings: Settings, *, rebuild: bool
) -> tuple[ReconcileReport | None, ReconcileReport]:
    """Rebuild-then-check, or check only: the reports (fixed, found). Raises
    BackendUnavailable when the database or Redis cannot be reached, RedisError when Redis
    fails half-way."""
    from gamification.leaderboards import reconcile
    from server.redis import check_redis, create_redis

    async def run() -> tuple[ReconcileReport | None, ReconcileReport]:
        redis = create_redis(settings)
        try:
            await check_redis(redis, settings)
            fixed = None
            if rebuild:
                advance, close = _progress_bar("rebuilding")
                try:
                    fixed = await reconcile.rebuild(redis, progress=advance)
                finally:
                    close()
            advance, close = _progress_bar("checking")
            try:
                return fixed, await reconcile.check(redis, progress=advance)
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


def _redis_failed(error: Exception) -> int:
    print(f"LOYALTY_REDIS_URL: Redis failed during the command: {error}", file=sys.stderr)
    return EXIT_BACKEND_UNAVAILABLE


def cmd_rebuild_leaderboards(args: argparse.Namespace, settings: Settings) -> int:
    from redis.exceptions import RedisError

    _require_shared_redis(settings, "rebuild-leaderboards")
    try:
        fixed, found = _reconcile_leaderboards(settings, rebuild=True)
    except RedisError as exc:
        return _redis_failed(exc)
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
    return EXIT_PROBLEM_FOUND


def cmd_check_leaderboards(args: argparse.Namespace, settings: Settings) -> int:
    from redis.exceptions import RedisError

    _require_shared_redis(settings, "check-leaderboards")
    try:
        _, found = _reconcile_leaderboards(settings, rebuild=False)
    except RedisError as exc:
        return _redis_failed(exc)
    _print_differences(found)
    if found.clean:
        print(
            f"The boards equal the ledger ({found.members} members) and the challenge "
            f"progress ({found.challenge_boards} challenge boards)."
        )
        return 0
    print(f"{len(found.differences) + len(found.stale_keys)} differences from the ledger.")
    return EXIT_PROBLEM_FOUND


def cmd_export_schema(args: argparse.Namespace, settings: Settings) -> int:
    from schema.schema import build_schema

    Path(args.output).write_text(build_schema(settings).as_str() + "\n")
    print(f"Wrote {args.output}")
    return 0


# --- the parser -----------------------------------------------------------------------------


class _HelpWithDefaults(argparse.RawDescriptionHelpFormatter):
    """Appends "(default: …)" to an option's help when it has a default worth showing (not a
    flag's True/False, not "unset"); descriptions keep their line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if (
            "%(default)" in help_text
            or not action.option_strings
            # Identity: 1 == True, and a default of 1 is worth showing.
            or any(action.default is unset for unset in (None, True, False, argparse.SUPPRESS))
        ):
            return help_text
        return f"{help_text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loyalty", description=__doc__, formatter_class=_HelpWithDefaults
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        help="print the full traceback when start-up or a connection fails "
        "(as LOYALTY_LOG_LEVEL=debug does)",
    )

    def command(
        name: str, summary: str, description: str, handler: Callable[..., int]
    ) -> argparse.ArgumentParser:
        parser = sub.add_parser(
            name,
            help=summary,
            description=f"{summary[:1].upper()}{summary[1:]}.\n\n{description}",
            formatter_class=_HelpWithDefaults,
            parents=[common],
        )
        parser.set_defaults(handler=handler)
        return parser

    serve = command(
        "serve",
        "serve the API (GraphQL over HTTP and WebSocket) with uvicorn",
        "Connects to LOYALTY_DATABASE_URL and LOYALTY_REDIS_URL first, and exits with status 3\n"
        "and one line naming the setting when either cannot be reached.",
        cmd_serve,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes, each with its own listening socket (SO_REUSEPORT)",
    )
    serve.add_argument(
        "--log-level",
        choices=get_args(LogLevel),
        default=None,
        help="uvicorn's log level (default: LOYALTY_LOG_LEVEL, else info)",
    )
    serve.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="do not log every request (logged by default)",
    )

    command(
        "migrate",
        "apply the checked-in database migrations",
        "Brings LOYALTY_DATABASE_URL to the latest migration; safe to run again.",
        cmd_migrate,
    )
    command(
        "seed",
        "load the demo program (idempotent)",
        "Stores, devices, members, rewards, causes and challenges to try the API with.",
        cmd_seed,
    )

    token = command(
        "token",
        "mint a development token",
        "Prints a bearer token for a member (or staff, admin) or a device. Development only:\n"
        "refused when LOYALTY_ENVIRONMENT=production.",
        cmd_token,
    )
    who = token.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--member",
        metavar="EMAIL_OR_ID",
        type=_member_reference,
        help="a member, staff or admin: email, id, or the ID the API returns (TWVtYmVyOjE)",
    )
    who.add_argument(
        "--device",
        metavar="ID",
        type=_record_id("Device"),
        help="an active device: its id or the ID the API returns (RGV2aWNlOjE)",
    )

    command(
        "expire-points",
        "expire points past their date (exactly once)",
        "Safe beside a running server and beside another run: each account is settled under\n"
        "its row lock. LOYALTY_EXPIRY_INTERVAL_SECONDS makes the server do this itself.",
        cmd_expire_points,
    )
    command(
        "evaluate-tiers",
        "keep or lower tiers whose qualification period ended (once)",
        "Members whose qualifying points fell short drop one tier after LOYALTY_TIER_GRACE_DAYS.",
        cmd_evaluate_tiers,
    )
    command(
        "expire-holds",
        "release till holds past their expiry (once)",
        "Points held for a kiosk or till redemption that was never completed go back.",
        cmd_expire_holds,
    )
    command(
        "notify",
        "send the member notices due now (each occasion once)",
        "Points expiring, a tier at risk, a challenge ending, birthdays, in each member's\n"
        "timezone (docs/notifications.md). Safe to run again and beside another run: each\n"
        "occasion is inserted once. Run it every hour or so.",
        cmd_notify,
    )
    command(
        "worker",
        "deliver webhooks until stopped (SIGINT or SIGTERM)",
        "Hands outbox events to the registered webhook endpoints and sends them, signed, with\n"
        "retries (docs/webhooks.md). Several workers may run on PostgreSQL; on SQLite, one.",
        cmd_worker,
    )
    command(
        "verify-ledger",
        "check every account's hash chain and the qualifying-point totals",
        "Exits 1 and lists the accounts whose chain is broken, with the first broken entry, "
        "and the members' qualifying-point totals (per day and month) that differ from a "
        "recomputation from their events.",
        cmd_verify_ledger,
    )
    command(
        "rebuild-leaderboards",
        "make every leaderboard equal the ledger, then check",
        "Needs the Redis the server uses: refused when LOYALTY_REDIS_URL is memory://.",
        cmd_rebuild_leaderboards,
    )
    command(
        "check-leaderboards",
        "compare the leaderboards with the ledger; exit 1 on differences",
        "Needs the Redis the server uses: refused when LOYALTY_REDIS_URL is memory://.",
        cmd_check_leaderboards,
    )
    export = command(
        "export-schema",
        "write the GraphQL SDL",
        "The schema as served with the current settings.",
        cmd_export_schema,
    )
    export.add_argument("--output", default="schema.graphql", help="file to write")
    export_member = command(
        "export-member",
        "write everything held about a member as one JSON document",
        "The document of docs/privacy.md#export, every section whole, written as it is read\n"
        "(a large export never sits in memory). Exits 1 when there is no such member.",
        cmd_export_member,
    )
    export_member.add_argument(
        "--member", required=True, type=_member_reference, help="email, id or Member ID"
    )
    export_member.add_argument("--output", default=None, help="file to write (default: stdout)")
    erase_member = command(
        "erase-member",
        "erase a member: personal data removed, points forfeited, tokens refused",
        "See docs/privacy.md#erasure. Erasing an erased member changes nothing. Exits 1 when\n"
        "there is no such member or the erasure is refused (staff and admin accounts).",
        cmd_erase_member,
    )
    erase_member.add_argument(
        "--member", required=True, type=_member_reference, help="email, id or Member ID"
    )
    erase_member.add_argument(
        "--reason", required=True, help="why, for the erasure record (name nobody in it)"
    )
    command(
        "purge",
        "delete what is past retention (old codes, old idempotency keys)",
        "Run it on a schedule (cron, a Kubernetes CronJob): see docs/privacy.md#retention and\n"
        "LOYALTY_RETENTION_*.",
        cmd_purge,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from server.backends import BackendUnavailable

    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ConfigurationError as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    program_settings.configure(settings)
    try:
        return int(args.handler(args, settings))
    except (InsecureConfiguration, NeedsSharedRedis) as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    except BackendUnavailable as error:
        if args.debug or settings.log_level in ("debug", "trace"):
            traceback.print_exc()
        print(error, file=sys.stderr)
        return EXIT_BACKEND_UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())
