"""Test harness: a fresh database per run (SQLite by default, PostgreSQL with JIFEN_TEST_DATABASE=postgres).

Every test starts with empty tables and a running clock. ``world`` gives a community with one member
of every role and a bearer header for each, without paying for argon2 on every fixture.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service import clock
from service.app import create_app
from service.config import Settings
from service.db import create_engine, create_session_maker, upgrade_database
from service.models import load_all_models
from tests.support import success
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, PHONE
from tests.support.database import (
    BACKEND,
    IN_CI,
    PG_URL,
    ROOT,
    create_test_database,
    db_env,
    drop_test_database,
    in_thread,
    need,
    truncate,
)
from tests.support.world import METRICS_TOKEN, SECRET, World, populate


def pytest_configure(config: pytest.Config) -> None:
    success.install()


BACKEND_SKIPS = ("PostgreSQL-only test", "the SQLite fast path")
"""Skip reasons that are the other database pass's share of the suite: the only skips CI allows."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Under CI=true a skip is a failure unless it is the other database's test: no silent skips (a
    missing component, an ``importorskip``, a ``pytest.skip`` anywhere)."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
        if not any(allowed in reason for allowed in BACKEND_SKIPS):
            report.outcome = "failed"
            report.longrepr = f"skipped under CI=true (only the other database's tests may skip): {reason}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A whole-suite run fails when a state-changing route never answered a 2xx (tests/support/success.py)."""
    unreached = success.check(session.config, session)
    if not unreached:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = "\n".join(f"    {k}" for k in unreached)
    message = (
        f"\n{len(unreached)} state-changing route(s) whose success no test reaches (add a test that calls "
        f"each successfully and asserts its outcome):\n{lines}\n"
    )
    if reporter is not None:
        reporter.write_line(message, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("postgres") and BACKEND != "postgres":
            item.add_marker(
                pytest.mark.skip(reason="PostgreSQL-only test: runs in the JIFEN_TEST_DATABASE=postgres pass")
            )


# ---------------------------------------------------------------- the database of this run


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(owner URL, app URL) of this run's database. On PostgreSQL the owner role owns the database and
    runs the migrations; the app role (not a superuser, owning nothing) is what the app, the test
    sessions and the servers connect as. On SQLite both are the one file."""
    load_all_models()
    if BACKEND == "postgres":
        name = f"jifen_test_{os.getpid()}_{secrets.token_hex(3)}"
        try:
            urls = in_thread(create_test_database, name)
        except (TimeoutError, OSError) as exc:  # no server: skip (or fail in CI)
            if IN_CI:
                raise
            pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
        except BaseException:
            in_thread(drop_test_database, name)
            raise
        try:
            yield urls
        finally:
            in_thread(drop_test_database, name)
    else:
        path = tmp_path_factory.mktemp("db") / "jifen-test.db"
        url = f"sqlite+aiosqlite:///{path}"
        in_thread(upgrade_database, url)
        yield url, url


@pytest.fixture(scope="session")
def database_url(database_urls: tuple[str, str]) -> str:
    """The app's URL (on PostgreSQL the app role's)."""
    return database_urls[1]


@pytest.fixture(scope="session")
def owner_database_url(database_urls: tuple[str, str]) -> str:
    """The owner role's URL: for test helpers that must do what the app may not (TRUNCATE, tampering)."""
    return database_urls[0]


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


@pytest.fixture(scope="session")
async def owner_engine(
    engine: AsyncEngine, database_url: str, owner_database_url: str
) -> AsyncIterator[AsyncEngine]:
    """An engine as the owner role (SQLite: the app's own engine, one writer at a time)."""
    if owner_database_url == database_url:
        yield engine
        return
    eng = create_engine(owner_database_url, pool_size=2)
    yield eng
    await eng.dispose()


@pytest.fixture(autouse=True)
def _real_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


@pytest.fixture
async def clean(engine: AsyncEngine, owner_engine: AsyncEngine) -> AsyncEngine:
    """Empty tables. ``db``, ``client`` and ``world`` depend on it, so every database test starts empty."""
    await truncate(owner_engine)
    return engine


@pytest.fixture
async def db(clean: AsyncEngine, maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for service-level tests; call ``await db.commit()`` where the test needs it."""
    async with maker() as session:
        yield session
        await session.rollback()


@pytest.fixture
async def owner_db(
    db: AsyncSession, owner_engine: AsyncEngine, engine: AsyncEngine
) -> AsyncIterator[AsyncSession]:
    """A session as the owner role, for tests that edit rows behind the app's back (SQLite: ``db``)."""
    if owner_engine is engine:
        yield db
        return
    async with create_session_maker(owner_engine)() as session:
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


@pytest.fixture
async def world(clean: AsyncEngine, maker: async_sessionmaker[AsyncSession]) -> World:
    """A community with a member of every role (``tests.support.world.PEOPLE``), committed."""
    async with maker() as db:
        w = await populate(db)
        await db.commit()
    return w


# ---------------------------------------------------------------- a live server and a browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(database_url: str, *, workers: int, metrics_dir: Path | None = None) -> Iterator[str]:
    """``jifen serve`` (granian, ``workers`` workers) on the test database; yields its base URL."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **db_env(database_url),
        "JIFEN_SECRET_KEY": SECRET,
        "JIFEN_PUBLIC_URL": base,
        "JIFEN_JOBS_INTERVAL_SECONDS": "0",
        "JIFEN_LOG_LEVEL": "WARNING",
        "JIFEN_METRICS_TOKEN": METRICS_TOKEN,
        "JIFEN_METRICS_DIR": str(metrics_dir or ""),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", str(workers)],
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


@pytest.fixture(scope="session")
def live_server(database_url: str) -> Iterator[str]:
    """``jifen serve`` (granian, one worker) on the test database; yields its base URL."""
    yield from _serve(database_url, workers=1)


@pytest.fixture(scope="module")
def live_workers(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``jifen serve`` with two workers on the test database: (base URL, the metrics directory)."""
    folder = tmp_path_factory.mktemp("metrics")
    for base in _serve(database_url, workers=2, metrics_dir=folder):
        yield base, folder


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
    context = browser.new_context(**PHONE)
    context.set_default_timeout(15_000)
    yield context
    context.close()
