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


def _upgrade(settings: Settings, revision: str = "head") -> None:
    """Migrate as the owner role (``JIFEN_MIGRATION_DATABASE_URL``), then grant the app role its share."""
    try:
        upgrade_database(settings.migration_url, revision, app_role=settings.app_role)
    except ValueError as exc:  # the grant step: no such role, or the app role is the owner itself
        sys.exit(f"jifen: configuration error: {exc}")


def _check_privileges(settings: Settings) -> None:
    """In production on PostgreSQL, refuse to serve as a role that could rewrite history."""
    if settings.is_sqlite or settings.env != "production" or settings.allow_privileged_database:
        return
    from service.dbroles import privilege_problems

    async def problems() -> list[Any]:
        engine = create_engine(settings.database_url, pool_size=1)
        try:
            return await privilege_problems(engine)
        finally:
            await engine.dispose()

    found = asyncio.run(problems())
    if found:
        sys.exit(
            "jifen: configuration error: JIFEN_DATABASE_URL connects as a role with more than the app "
            f"needs: {'; '.join(map(str, found))}. Connect the server as a role that owns nothing and run "
            "migrations as the owner with JIFEN_MIGRATION_DATABASE_URL (jifen db roles prints the SQL "
            "that creates both; README, Operations), or set JIFEN_ALLOW_PRIVILEGED_DATABASE=1 to start "
            "anyway."
        )


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


def _metrics_dir(settings: Settings) -> Path | None:
    """Give the workers an empty directory to share their metrics through (``prometheus_client``'s
    multiprocess mode), before granian starts them: values of an earlier run must not add up. Returns
    the directory when it is a temporary one of this run (removed when the server stops)."""
    import tempfile

    raw = settings.metrics_dir or os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    folder = Path(raw) if raw else Path(tempfile.mkdtemp(prefix="jifen-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    return None if raw else folder


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings()
    temporary = _metrics_dir(settings)
    try:
        _upgrade(settings)
        _check_privileges(settings)
        _serve(args, settings)
    finally:
        if temporary is not None:
            import shutil

            shutil.rmtree(temporary, ignore_errors=True)
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> None:
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


DEMO_LOGINS_SUFFIX = ".logins.json"
"""Next to the demo database: its logins, written once the demo is fully built (a database without it
was left half-built and is built again)."""


def _demo_files(path: Path) -> tuple[Path, ...]:
    return tuple(Path(str(path) + suffix) for suffix in ("", "-wal", "-shm", DEMO_LOGINS_SUFFIX))


def login_lines(logins: list[tuple[str, str, str]]) -> list[str]:
    """The demo's logins as a table that lines up in a terminal with Chinese labels."""
    from service.kit.table import text_table

    rows = [("角色 role", "手机号 phone", "密码 password"), *logins]
    return text_table(rows, indent=4)


def cmd_demo(args: argparse.Namespace) -> int:
    """Build the demo database, or keep the one an earlier run built (``--fresh`` rebuilds it)."""
    import json

    path = Path(args.database).resolve()
    saved = Path(str(path) + DEMO_LOGINS_SUFFIX)
    fresh = args.fresh or not (path.exists() and saved.exists())
    if fresh:
        for file in _demo_files(path):
            file.unlink(missing_ok=True)
    os.environ["JIFEN_DATABASE_URL"] = os.environ["JIFEN_MIGRATION_DATABASE_URL"] = (
        f"sqlite+aiosqlite:///{path}"
    )
    os.environ.setdefault("JIFEN_PUBLIC_URL", f"http://{args.host}:{args.port}")
    settings = _settings()
    _upgrade(settings)
    from service.demo import build_demo

    logins: list[tuple[str, str, str]] = []

    async def seed(db: Any) -> int:
        demo = await build_demo(db)
        logins.extend(demo.logins)
        return 0

    if fresh:
        _with_session(settings, seed)
        saved.write_text(json.dumps(logins, ensure_ascii=False), encoding="utf-8")
    else:
        logins = [(label, phone, password) for label, phone, password in json.loads(saved.read_text("utf-8"))]
    print("\n  Jifen demo is ready:", settings.public_url)
    print(
        "  Built just now (a fresh demo database)."
        if fresh
        else f"  Kept the demo database {path.name} of an earlier run "
        "(--fresh, or make demo FRESH=1, rebuilds it)."
    )
    print("\n  Logins:")
    print("\n".join(login_lines(logins)))
    print(flush=True)
    if args.no_serve:
        return 0
    return cmd_serve(args)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings()
    _upgrade(settings, args.revision)
    print(f"database at {args.revision}")
    return 0


def cmd_db_roles(args: argparse.Namespace) -> int:
    """Print (or, with --execute, run) the SQL that creates the owner and the app role."""
    import secrets

    from sqlalchemy.engine import make_url

    from service.dbroles import database_statements, role_statements

    owner_password = args.owner_password or secrets.token_urlsafe(24)
    app_password = args.app_password or secrets.token_urlsafe(24)
    try:
        roles = role_statements(args.owner_role, args.app_role, owner_password, app_password)
    except ValueError as exc:
        print(f"jifen: {exc}", file=sys.stderr)
        return 2
    admin = make_url(args.admin_url) if args.admin_url else None
    database = args.database or (admin.database if admin is not None else None) or "jifen"
    in_database = database_statements(database, args.owner_role, args.app_role)
    if args.execute:
        if admin is None or not admin.drivername.startswith("postgresql"):
            print(
                "jifen: --execute needs --admin-url postgresql+asyncpg://superuser@host/db", file=sys.stderr
            )
            return 2
        asyncio.run(_execute_roles(admin, database, args.owner_role, roles, in_database))
        print(f"roles {args.owner_role} and {args.app_role} and database {database} are ready")
    else:
        print("-- 1. As a superuser, in any database of the cluster (roles belong to the whole cluster):")
        print(*(s + ";" for s in roles), sep="\n")
        print(f"-- 2. Create the database if it is new:  CREATE DATABASE {database} OWNER {args.owner_role};")
        print("--    An existing one: connect to it and move what the old role owns:")
        print(f"--    REASSIGN OWNED BY <old role> TO {args.owner_role};")
        print(f"-- 3. Connected to database {database} (psql: \\c {database}), as a superuser:")
        print(*(s + ";" for s in in_database), sep="\n")
    host = f"{admin.host or '127.0.0.1'}:{admin.port or 5432}" if admin is not None else "db-host:5432"
    print(
        "-- Then run `jifen db upgrade` (and `jifen serve`) with:\n"
        f"--   JIFEN_MIGRATION_DATABASE_URL=postgresql+asyncpg://{args.owner_role}:{owner_password}@{host}/{database}\n"
        f"--   JIFEN_DATABASE_URL=postgresql+asyncpg://{args.app_role}:{app_password}@{host}/{database}"
    )
    return 0


async def _execute_roles(
    admin: Any, database: str, owner_role: str, roles: list[str], in_database: list[str]
) -> None:
    """Create the roles through the admin URL, the database if missing, then set it up from inside."""
    import asyncpg

    from service.dbroles import quote_ident

    def dsn(url: Any) -> str:
        return str(url.set(drivername="postgresql").render_as_string(hide_password=False))

    conn = await asyncpg.connect(dsn(admin), timeout=10)
    try:
        for statement in roles:
            await conn.execute(statement)
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await conn.execute(f"CREATE DATABASE {quote_ident(database)} OWNER {quote_ident(owner_role)}")
    finally:
        await conn.close()
    conn = await asyncpg.connect(dsn(admin.set(database=database)), timeout=10)
    try:
        for statement in in_database:
            await conn.execute(statement)
    finally:
        await conn.close()


# ---------------------------------------------------------------- accounts


def cmd_admin_create(args: argparse.Namespace) -> int:
    from service.accounts import service as accounts

    settings = _settings()
    _upgrade(settings)

    async def work(db: Any) -> int:
        member = await accounts.create_platform_admin(db, args.phone, args.password, args.name)
        print(f"platform admin {member.name} ({member.phone}) is ready")
        return 0

    return _with_session(settings, work)


def cmd_members_import(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from service.accounts import service as accounts

    settings = _settings()
    _upgrade(settings)
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
    _upgrade(settings)

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
    _upgrade(settings)

    async def work(maker: Any) -> int:
        print(f"holds released: {await jobs.sweep_holds(maker)}")
        return 0

    return _with_maker(settings, work)


def cmd_points_expire(args: argparse.Namespace) -> int:
    """Post expiry transfers for points past their date."""
    from service.points import jobs

    settings = _settings()
    _upgrade(settings)

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
    """Recompute the ledger of one or every community (or each of a region's); exit 1 when anything is
    wrong. Each community's ledger balances on its own: a region is its communities, one by one."""
    from service.points.cli import verify_ledgers
    from service.regions.views import load_tree

    settings = _settings()

    async def work(db: Any) -> int:
        if not args.region:
            return await verify_ledgers(db, args.community)
        tree = await load_tree(db)
        region = next((r for r in tree.regions.values() if r.code == args.region), None)
        if region is None:
            print(f"no region with code {args.region!r}", file=sys.stderr)
            return 2
        from service.accounts.views import all_communities

        codes = {c.id: c.code for c in await all_communities(db)}
        worst = 0
        for cid in tree.communities_under(region.id):
            worst = max(worst, await verify_ledgers(db, codes[cid]))
        return worst

    return _with_session(settings, work)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Recompute the audit log's hash chains (one community's or all); exit 1 naming the first break."""
    from service.audit.cli import verify_audit

    settings = _settings()

    async def work(db: Any) -> int:
        return await verify_audit(db, args.community)

    return _with_session(settings, work)


def cmd_reports_rebuild(args: argparse.Namespace) -> int:
    """Recompute the report summary tables from the raw attendances and ledger entries.

    Runs as the owner role (``JIFEN_MIGRATION_DATABASE_URL``): it locks ``ledger_entries`` against
    writers (SHARE mode), which PostgreSQL allows only a role that may update or delete its rows."""
    from dataclasses import replace

    from service.reports import summary

    settings = _settings()
    _upgrade(settings)
    settings = replace(settings, database_url=settings.migration_url)

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
    _upgrade(settings)

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
    demo.add_argument("--database", default="jifen-demo.db", help="SQLite file (kept between runs)")
    demo.add_argument("--fresh", action="store_true", help="rebuild the demo database from scratch")
    demo.add_argument("--keep", action="store_true", help="(the default now) keep an existing demo database")
    demo.add_argument("--no-serve", action="store_true", help="build and print, do not serve")
    demo.set_defaults(func=cmd_demo)

    db = sub.add_parser("db", help="database migrations").add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="apply pending migrations")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)
    roles = db.add_parser(
        "roles", help="print (or run) the SQL that creates the owner role and the app role (PostgreSQL)"
    )
    roles.add_argument("--owner-role", default="jifen_owner", help="owns the tables; migrations run as it")
    roles.add_argument("--app-role", default="jifen_app", help="the server connects as it; owns nothing")
    roles.add_argument("--owner-password", help="default: a random one, printed")
    roles.add_argument("--app-password", help="default: a random one, printed")
    roles.add_argument("--database", help="the application's database (default: --admin-url's, else jifen)")
    roles.add_argument("--admin-url", help="a superuser's postgresql+asyncpg:// URL (for --execute)")
    roles.add_argument("--execute", action="store_true", help="run the SQL instead of printing it")
    roles.set_defaults(func=cmd_db_roles)

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
    verify.add_argument("--region", help="region code: each community under it (a street's alliance)")
    verify.set_defaults(func=cmd_ledger_verify)
    audit_cmd = sub.add_parser("audit", help="the audit log of staff acts").add_subparsers(
        dest="audit_command", required=True
    )
    audit_verify = audit_cmd.add_parser("verify", help="check the audit log's hash chains (exit 1 if broken)")
    audit_verify.add_argument("--community", help="community code (default: every chain)")
    audit_verify.set_defaults(func=cmd_audit_verify)
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
