"""The ``jifen`` command: serve, demo, database, administration and bookkeeping jobs."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from service.config import ConfigError, Settings
from service.db import create_engine, create_session_maker, transaction, upgrade_database

__all__ = ["main"]


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        sys.exit(f"jifen: configuration error: {exc}")


def _with_session(settings: Settings, work: Callable[[Any], Awaitable[int]]) -> int:
    """Run ``work(session)`` in one transaction; return its exit code.

    A ``DomainError`` rolls the whole transaction back, is printed with its code, and exits 2.
    """
    from service.errors import DomainError

    async def run() -> int:
        engine = create_engine(settings.database_url)
        try:
            async with transaction(create_session_maker(engine)) as db:
                return await work(db)
        except DomainError as exc:
            print(f"jifen: {exc.code}: {exc.detail}", file=sys.stderr)
            return 2
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _with_maker(settings: Settings, work: Callable[[Any], Awaitable[int]]) -> int:
    """Run ``work(session_maker)`` for jobs that commit in batches."""

    async def run() -> int:
        engine = create_engine(settings.database_url)
        try:
            return await work(create_session_maker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


# ---------------------------------------------------------------- serve, demo, db


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings()
    upgrade_database(settings.database_url)
    from granian import Granian
    from granian.constants import Interfaces

    print(
        f"Jifen serving on http://{args.host}:{args.port} with {args.workers} worker(s); "
        f"QR codes point at {settings.public_url}",
        flush=True,
    )
    Granian(
        "service.app:create_app",
        factory=True,
        address=args.host,
        port=args.port,
        workers=args.workers,
        interface=Interfaces.ASGI,
        log_level=settings.log_level.lower(),  # type: ignore[arg-type]
        respawn_failed_workers=True,
    ).serve()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    path = Path(args.database).resolve()
    if path.exists() and not args.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    fresh = not path.exists()
    os.environ["JIFEN_DATABASE_URL"] = f"sqlite+aiosqlite:///{path}"
    os.environ.setdefault("JIFEN_PUBLIC_URL", f"http://{args.host}:{args.port}")
    settings = _settings()
    upgrade_database(settings.database_url)
    from service.demo import build_demo

    logins: list[tuple[str, str, str]] = []

    async def seed(db: Any) -> int:
        demo = await build_demo(db)
        logins.extend(demo.logins)
        return 0

    if fresh:
        _with_session(settings, seed)
    print("\n  Jifen demo is ready:", settings.public_url)
    if logins:
        print("\n  Logins (phone / password):")
        for label, phone, password in logins:
            print(f"    {label:<32} {phone}  {password}")
    print(flush=True)
    if args.no_serve:
        return 0
    return cmd_serve(args)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings()
    upgrade_database(settings.database_url, args.revision)
    print(f"database at {args.revision}")
    return 0


# ---------------------------------------------------------------- accounts


def cmd_admin_create(args: argparse.Namespace) -> int:
    from service.accounts import service as accounts

    settings = _settings()
    upgrade_database(settings.database_url)

    async def work(db: Any) -> int:
        member = await accounts.create_platform_admin(db, args.phone, args.password, args.name)
        print(f"platform admin {member.name} ({member.phone}) is ready")
        return 0

    return _with_session(settings, work)


def cmd_members_import(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from service.accounts import service as accounts

    settings = _settings()
    upgrade_database(settings.database_url)
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"jifen: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    rows, problems = accounts.parse_import_csv(text)
    for problem in problems:
        print(f"{args.file}:{problem.line}: {problem.message}", file=sys.stderr)
    if problems and not args.skip_bad:
        print(
            f"jifen: {len(problems)} bad row(s); nothing imported (use --skip-bad to import the rest)",
            file=sys.stderr,
        )
        return 1

    async def work(db: Any) -> int:
        community = await accounts.get_community_by_code(db, args.community)
        with Progress(transient=False) as progress:
            task = progress.add_task(f"importing into {community.name}", total=len(rows))
            report = await accounts.import_members(
                db,
                community.id,
                rows,
                on_row=lambda: progress.advance(task),
                secret_key=settings.secret_key,
            )
        print(
            f"imported {len(rows)} row(s): {report.created} new member(s), {report.updated} existing; "
            f"{len(problems)} skipped"
        )
        if report.invited:
            print(
                f"{report.invited} member(s) got an invitation code: print their cards at "
                f"{settings.public_url}/admin/invitations?community={community.id}"
            )
        return 0

    return _with_session(settings, work)


# ---------------------------------------------------------------- rewards


def cmd_rewards_settle(args: argparse.Namespace) -> int:
    """Pay claims whose public notice ended; close unrated wishes; time out stale assignments."""
    from service.rewards import service as rewards
    from service.wishes import service as wishes

    settings = _settings()
    upgrade_database(settings.database_url)

    async def work(maker: Any) -> int:
        claims = await rewards.settle_due_claims(maker)
        closed = await wishes.auto_award_due_wishes(maker)
        reopened = await wishes.time_out_wishes(maker)
        print(f"claims awarded: {claims}; wishes closed with points: {closed}; wishes reopened: {reopened}")
        return 0

    return _with_maker(settings, work)


# ---------------------------------------------------------------- points ledger


def cmd_points_sweep(args: argparse.Namespace) -> int:
    """Release pending holds past their expiry."""
    from service.points import jobs

    settings = _settings()
    upgrade_database(settings.database_url)

    async def work(maker: Any) -> int:
        print(f"holds released: {await jobs.sweep_holds(maker)}")
        return 0

    return _with_maker(settings, work)


def cmd_points_expire(args: argparse.Namespace) -> int:
    """Post expiry transfers for points past their date."""
    from service.points import jobs

    settings = _settings()
    upgrade_database(settings.database_url)

    async def work(maker: Any) -> int:
        print(f"points expired: {await jobs.expire_points(maker)}")
        return 0

    return _with_maker(settings, work)


def cmd_points_release_pending(args: argparse.Namespace) -> int:
    """Post issuances that waited for the budget (oldest first, as far as each budget allows)."""
    from service.points import jobs

    settings = _settings()
    upgrade_database(settings.database_url)

    async def work(maker: Any) -> int:
        print(f"pending issuances posted: {await jobs.release_pending(maker)}")
        return 0

    return _with_maker(settings, work)


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    """Recompute the ledger of one or every community; exit 1 when anything is wrong."""
    from service.points.cli import verify_ledgers

    settings = _settings()

    async def work(db: Any) -> int:
        return await verify_ledgers(db, args.community)

    return _with_session(settings, work)


def cmd_reports_rebuild(args: argparse.Namespace) -> int:
    """Recompute the report summary tables from the raw attendances and ledger entries."""
    from service.reports import summary

    settings = _settings()
    upgrade_database(settings.database_url)

    async def work(maker: Any) -> int:
        async with transaction(maker) as db:
            rows = await summary.rebuild(db)
        for table, n in rows.items():
            print(f"{table}: {n} rows")
        return 0

    return _with_maker(settings, work)


def cmd_store_sweep(args: argparse.Namespace) -> int:
    """Expire overdue orders and vouchers: their holds are voided and the stock comes back."""
    from service.store import service as store

    settings = _settings()
    upgrade_database(settings.database_url)

    async def work(maker: Any) -> int:
        print(f"orders and vouchers expired: {await store.sweep(maker)}")
        return 0

    return _with_maker(settings, work)


# ---------------------------------------------------------------- the parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jifen", description="Jifen (积分) community points service")
    sub = parser.add_subparsers(dest="command", required=True)

    def serve_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        p.add_argument("--workers", type=int, default=max(1, os.cpu_count() or 1))

    serve = sub.add_parser("serve", help="apply migrations and serve with granian")
    serve_args(serve)
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="build a demo database, print the logins, and serve it")
    serve_args(demo)
    demo.add_argument("--database", default="jifen-demo.db", help="SQLite file (rebuilt each time)")
    demo.add_argument("--keep", action="store_true", help="keep an existing demo database")
    demo.add_argument("--no-serve", action="store_true", help="build and print, do not serve")
    demo.set_defaults(func=cmd_demo)

    db = sub.add_parser("db", help="database migrations").add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="apply pending migrations")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)

    admin = sub.add_parser("admin", help="platform administrators").add_subparsers(
        dest="admin_command", required=True
    )
    create = admin.add_parser("create", help="create (or promote) a platform admin")
    create.add_argument("--phone", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--name", required=True)
    create.set_defaults(func=cmd_admin_create)

    members = sub.add_parser("members", help="community members").add_subparsers(
        dest="members_command", required=True
    )
    imp = members.add_parser("import", help="bulk-import members from CSV (phone,name[,role])")
    imp.add_argument("file")
    imp.add_argument("--community", required=True, help="community code")
    imp.add_argument("--skip-bad", action="store_true", help="import the good rows even if some are bad")
    imp.set_defaults(func=cmd_members_import)

    # Domain commands (points, ledger, rewards, ...) are added below by their issues.
    points_cmd = sub.add_parser("points", help="points ledger jobs").add_subparsers(
        dest="points_command", required=True
    )
    points_cmd.add_parser("sweep", help="release holds past their expiry").set_defaults(func=cmd_points_sweep)
    points_cmd.add_parser("expire", help="post expiries of points past their date").set_defaults(
        func=cmd_points_expire
    )
    points_cmd.add_parser(
        "release-pending", help="post issuances that waited for the budget (as far as it allows)"
    ).set_defaults(func=cmd_points_release_pending)
    ledger_cmd = sub.add_parser("ledger", help="the points ledger").add_subparsers(
        dest="ledger_command", required=True
    )
    verify = ledger_cmd.add_parser("verify", help="check hash chains and balances (exit 1 on problems)")
    verify.add_argument("--community", help="community code (default: every community)")
    verify.set_defaults(func=cmd_ledger_verify)
    rewards_cmd = sub.add_parser("rewards", help="good-conduct claims and micro-wishes").add_subparsers(
        dest="rewards_command", required=True
    )
    settle = rewards_cmd.add_parser("settle", help="pay claims whose public notice ended (and wish jobs)")
    settle.set_defaults(func=cmd_rewards_settle)
    reports_cmd = sub.add_parser("reports", help="the officials' dashboard").add_subparsers(
        dest="reports_command", required=True
    )
    rebuild = reports_cmd.add_parser("rebuild", help="recompute the report summaries from the raw rows")
    rebuild.set_defaults(func=cmd_reports_rebuild)
    store_cmd = sub.add_parser("store", help="points supermarket and partner vouchers").add_subparsers(
        dest="store_command", required=True
    )
    sweep = store_cmd.add_parser("sweep", help="expire overdue orders and vouchers (points and stock return)")
    sweep.set_defaults(func=cmd_store_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
