"""Test harness: a fresh database per run (SQLite by default, PostgreSQL with JIFEN_TEST_DATABASE=postgres).

Every test starts with empty tables and a running clock. ``world`` gives a community with one member
of every role and a bearer header for each, without paying for argon2 on every fixture.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service import clock
from service.accounts import service as accounts
from service.accounts.models import Community, Member, Partner
from service.app import create_app
from service.config import Settings
from service.db import Base, create_engine, create_session_maker, upgrade_database
from service.models import load_all_models

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() == "true"
BACKEND = os.environ.get("JIFEN_TEST_DATABASE", "sqlite").lower()
PG_URL = os.environ.get("JIFEN_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
CHROMIUM = os.environ.get("JIFEN_CHROMIUM", "/usr/bin/chromium")
SECRET = "test-secret-" + "x" * 40
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


def need(condition: bool, reason: str) -> None:
    """Skip when a real component is missing, except under CI=true where that is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("postgres") and BACKEND != "postgres":
            item.add_marker(
                pytest.mark.skip(reason="PostgreSQL-only test: runs in the JIFEN_TEST_DATABASE=postgres pass")
            )


# ---------------------------------------------------------------- the database of this run


async def _pg_admin(sql: str) -> None:
    import asyncpg

    dsn = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _in_thread(fn: Any, *args: Any) -> Any:
    """Run ``fn`` in its own thread: it may start an event loop while the tests' loop is running."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    load_all_models()
    if BACKEND == "postgres":
        name = f"jifen_test_{os.getpid()}_{secrets.token_hex(3)}"
        try:
            _in_thread(asyncio.run, _pg_admin(f'CREATE DATABASE "{name}"'))
        except Exception as exc:  # no server: skip (or fail in CI)
            if IN_CI:
                raise
            pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
        base = PG_URL.rsplit("/", 1)[0]
        url = f"{base}/{name}"
        _in_thread(upgrade_database, url)
        yield url
        _in_thread(asyncio.run, _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        path = tmp_path_factory.mktemp("db") / "jifen-test.db"
        url = f"sqlite+aiosqlite:///{path}"
        _in_thread(upgrade_database, url)
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, secret_key=SECRET, public_url="http://testserver", jobs_interval_seconds=0
    ).validated()


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(settings.database_url)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
def maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_maker(engine)


@pytest.fixture(autouse=True)
def _real_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


@pytest.fixture
async def clean(engine: AsyncEngine) -> AsyncEngine:
    """Empty tables. ``db``, ``client`` and ``world`` depend on it, so every database test starts empty."""
    await _truncate(engine)
    return engine


async def _truncate(eng: AsyncEngine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            # TRUNCATE does not fire the row triggers that keep ledger entries append-only.
            await conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        else:
            for t in tables:
                await conn.execute(text(f'DELETE FROM "{t}"'))


@pytest.fixture
async def db(clean: AsyncEngine, maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for service-level tests; call ``await db.commit()`` where the test needs it."""
    async with maker() as session:
        yield session
        await session.rollback()


# ---------------------------------------------------------------- the app


@pytest.fixture
async def app(clean: AsyncEngine, settings: Settings) -> Any:
    return create_app(settings)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=app, base_url="http://testserver") as c:
        yield c


# ---------------------------------------------------------------- people


@dataclass
class World:
    """A community with a member of every role; ``h[name]`` are bearer headers."""

    community: Community
    partner: Partner
    members: dict[str, Member] = field(default_factory=dict)
    h: dict[str, dict[str, str]] = field(default_factory=dict)
    root: accounts.Actor | None = None

    @property
    def cid(self) -> uuid.UUID:
        return self.community.id

    def actor(self, name: str) -> accounts.Actor:
        m = self.members[name]
        return accounts.Actor(m.id, m.name, m.phone, m.is_platform_admin)


async def add_person(
    db: AsyncSession, world: World, name: str, phone: str, role: str, partner_id: uuid.UUID | None = None
) -> Member:
    assert world.root is not None
    member = await accounts.add_member(db, world.root, world.cid, phone, name, None, role, partner_id)
    world.members[name] = member
    world.h[name] = {"Authorization": f"Bearer {accounts.issue_token(member, SECRET)}"}
    return member


async def new_world(db: AsyncSession) -> World:
    """A platform admin, a community and a partner shop; people are added with :func:`add_person`."""
    root_member = Member(phone="13700000000", name="平台", is_platform_admin=True)
    db.add(root_member)
    await db.flush()
    root = accounts.Actor(root_member.id, root_member.name, root_member.phone, True)
    community = await accounts.create_community(db, root, "测试社区", "test-community")
    partner = await accounts.create_partner(db, root, community.id, "测试商店")
    w = World(community, partner, root=root)
    w.members["root"] = root_member
    w.h["root"] = {"Authorization": f"Bearer {accounts.issue_token(root_member, SECRET)}"}
    return w


def seeded(database_url: str, build: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Empty the tables, run ``build(db)`` and commit, in a thread with its own event loop.

    For browser tests' fixtures, whose data must be committed before the page (another process) reads it.
    """

    async def run() -> T:
        engine = create_engine(database_url)
        try:
            await _truncate(engine)
            async with create_session_maker(engine)() as db:
                result = await build(db)
                await db.commit()
                return result
        finally:
            await engine.dispose()

    result: T = _in_thread(asyncio.run, run())
    return result


@pytest.fixture
async def world(clean: AsyncEngine, maker: async_sessionmaker[AsyncSession]) -> World:
    async with maker() as db:
        w = await new_world(db)
        await add_person(db, w, "admin", "13800000001", "admin")
        await add_person(db, w, "admin2", "13800000011", "admin")
        await add_person(db, w, "organizer", "13800000002", "organizer")
        await add_person(db, w, "organizer2", "13800000012", "organizer")
        await add_person(db, w, "clerk", "13800000003", "clerk")
        await add_person(db, w, "reviewer", "13800000004", "reviewer")
        await add_person(db, w, "reviewer2", "13800000014", "reviewer")
        await add_person(db, w, "partner", "13800000005", "partner", w.partner.id)
        await add_person(db, w, "alice", "13900000001", "member")
        await add_person(db, w, "bob", "13900000002", "member")
        await add_person(db, w, "carol", "13900000003", "member")
        await db.commit()
    return w


# ---------------------------------------------------------------- a live server and a browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(database_url: str) -> Iterator[str]:
    """``jifen serve`` (granian, one worker) on the test database; yields its base URL."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "JIFEN_DATABASE_URL": database_url,
        "JIFEN_SECRET_KEY": SECRET,
        "JIFEN_PUBLIC_URL": base,
        "JIFEN_JOBS_INTERVAL_SECONDS": "0",
        "JIFEN_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "1"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    import urllib.request

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            break
        except OSError as exc:
            if proc.poll() is not None:
                output = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError("server died: " + output) from exc
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError("server did not start in 30 s")
    yield base
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Chromium through Playwright's sync API, one per test.

    Playwright's sync API keeps an event loop running on this thread while it is open, and async
    fixtures cannot be set up under a running loop. So every other fixture of the test is set up
    first, and Playwright is closed again when the test ends.
    """
    for name in request.fixturenames:
        if name not in {"browser", "phone", "request"}:
            request.getfixturevalue(name)
    need(
        shutil.which(CHROMIUM) is not None or Path(CHROMIUM).exists(),
        f"Chromium not found at {CHROMIUM} (apt-get install chromium fonts-wqy-microhei)",
    )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "playwright is not installed")
        raise
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A fresh browser context the size of a phone (390x844), Chinese by default."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        locale="zh-CN",
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(15_000)
    yield context
    context.close()
