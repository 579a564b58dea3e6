"""The ``jifen`` command, run as a newcomer or an operator would run it (a subprocess)."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from service.accounts import service as accounts
from service.accounts.models import Member, Membership
from service.kit.table import display_width
from tests.support.database import ROOT, db_env
from tests.support.world import SECRET, World


def jifen(*args: str, database_url: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **db_env(database_url),
        "JIFEN_SECRET_KEY": SECRET,
        "JIFEN_JOBS_INTERVAL_SECONDS": "0",
        "JIFEN_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


async def counts(maker: Any) -> tuple[int, int]:
    async with maker() as db:
        members = await db.scalar(select(func.count()).select_from(Member))
        roles = await db.scalar(select(func.count()).select_from(Membership))
        return int(members or 0), int(roles or 0)


def test_db_upgrade_builds_a_fresh_sqlite_database(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "fresh.db"
    r = jifen("db", "upgrade", database_url=f"sqlite+aiosqlite:///{path}")
    assert r.returncode == 0, r.stderr
    assert "database at head" in r.stdout
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"members", "communities", "memberships", "alembic_version"} <= tables
    again = jifen("db", "upgrade", database_url=f"sqlite+aiosqlite:///{path}")
    assert again.returncode == 0, again.stderr


def test_bad_configuration_fails_with_a_clear_message(tmp_path: Path) -> None:
    r = jifen("db", "upgrade", database_url="mysql://nope")
    assert r.returncode != 0
    assert "configuration error" in r.stderr and "JIFEN_DATABASE_URL" in r.stderr
    assert "Traceback" not in r.stderr


async def test_admin_create_makes_a_platform_admin_who_can_log_in(
    clean: Any, database_url: str, maker: Any
) -> None:
    r = jifen(
        "admin",
        "create",
        "--phone",
        "+86 137-0000-0009",
        "--password",
        "root-pass-99",
        "--name",
        "平台",
        database_url=database_url,
    )
    assert r.returncode == 0, r.stderr
    assert "13700000009" in r.stdout
    async with maker() as db:
        _, member = await accounts.login(db, "13700000009", "root-pass-99", "cli-test", SECRET)
        assert member.is_platform_admin and member.name == "平台"
    bad = jifen(
        "admin",
        "create",
        "--phone",
        "123",
        "--password",
        "root-pass-99",
        "--name",
        "x",
        database_url=database_url,
    )
    assert bad.returncode == 2 and "invalid_phone" in bad.stderr
    short = jifen(
        "admin",
        "create",
        "--phone",
        "13700000008",
        "--password",
        "short",
        "--name",
        "x",
        database_url=database_url,
    )
    assert short.returncode == 2 and "invalid_password" in short.stderr
    assert (await counts(maker))[0] == 1


async def test_members_import_refuses_a_file_with_bad_rows(
    world: World, database_url: str, maker: Any, tmp_path: Path
) -> None:
    csv = tmp_path / "members.csv"
    csv.write_text(
        "phone,name,role\n15900000001,赵一\n12345,坏号码\n15900000003,钱三,mayor\n15900000004,孙四\n",
        encoding="utf-8-sig",
    )
    before = await counts(maker)
    r = jifen("members", "import", str(csv), "--community", "test-community", database_url=database_url)
    assert r.returncode == 1
    assert f"{csv}:3:" in r.stderr and f"{csv}:4:" in r.stderr
    assert "nothing imported" in r.stderr
    assert await counts(maker) == before

    r = jifen(
        "members",
        "import",
        str(csv),
        "--community",
        "test-community",
        "--skip-bad",
        database_url=database_url,
    )
    assert r.returncode == 0, r.stderr
    assert "2 new member(s)" in r.stdout and "2 skipped" in r.stdout
    members, roles = await counts(maker)
    assert members == before[0] + 2 and roles == before[1] + 2
    async with maker() as db:
        assert await accounts.count_members(db, world.cid) == 13


async def test_members_import_of_a_good_file_and_an_unknown_community(
    world: World, database_url: str, maker: Any, tmp_path: Path
) -> None:
    csv = tmp_path / "good.csv"
    csv.write_text("15900000011,周一\n13900000001,alice,organizer\n", encoding="utf-8")
    r = jifen("members", "import", str(csv), "--community", "test-community", database_url=database_url)
    assert r.returncode == 0, r.stderr
    assert "1 new member(s), 1 existing" in r.stdout
    # Neither can log in yet (no password): each gets a code for the invitation card the office prints.
    assert (
        "2 member(s) got an invitation code" in r.stdout
        and f"/admin/invitations?community={world.cid}" in r.stdout
    )
    async with maker() as db:
        assert {m.role for m in await accounts.roles_of(db, world.members["alice"].id)} == {
            "member",
            "organizer",
        }
    before = await counts(maker)
    r = jifen("members", "import", str(csv), "--community", "no-such-place", database_url=database_url)
    assert r.returncode == 2 and "no-such-place" in r.stderr
    missing = jifen(
        "members",
        "import",
        str(tmp_path / "absent.csv"),
        "--community",
        "test-community",
        database_url=database_url,
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert await counts(maker) == before


def _demo(path: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    r = jifen(
        "demo",
        "--no-serve",
        "--database",
        str(path),
        "--port",
        "8123",
        *extra,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ignored.db'}",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    return r


def _login_table(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "角色 role" in line)
    return [line for line in lines[start:] if line.strip()]


def _column_starts(line: str) -> list[int]:
    """Display columns where the phone and the password cells start on ``line``."""
    phone = re.search(r"\s(1\d{10}|手机号 phone)\s", line)
    assert phone is not None, line
    password = line.rindex("  ") + 2
    return [display_width(line[: phone.start() + 1]), display_width(line[:password])]


def _names(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM members")}


def test_demo_builds_a_database_and_prints_the_logins(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    r = _demo(path, tmp_path)
    assert "http://127.0.0.1:8123" in r.stdout
    for phone in (
        "13800000000",
        "13800000001",
        "13800000002",
        "13800000003",
        "13800000004",
        "13800000005",
        "13900000001",
    ):
        assert phone in r.stdout
    assert "jifen-demo-2026" in r.stdout
    assert "组织者" in r.stdout and "联盟商家" in r.stdout
    # The street's alliance (issue 20): a 建兰 resident and a unit's staff log in too.
    assert "建兰社区居民" in r.stdout and "13600000100" in r.stdout
    assert "联盟单位店员" in r.stdout and "13500000001" in r.stdout
    # A resident of each community and the street official (issue 22).
    assert "幸福里社区居民" in r.stdout and "西湖社区居民" in r.stdout and "13600000200" in r.stdout
    assert "街道干部" in r.stdout and "13600000001" in r.stdout
    assert path.exists()
    # The table lines up in a terminal: each column starts at the same display column on every line,
    # though the labels mix Chinese (two columns a character) and Latin text.
    table = _login_table(r.stdout)
    assert len(table) == 14
    assert len({tuple(_column_starts(line)) for line in table}) == 1, "\n".join(table)
    assert len({len(line) for line in table}) > 1  # (characters differ: only display widths are equal)

    # Run again: the demo database is kept, with what the newcomer did in it, and the logins print again.
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE members SET name = '陈小红改' WHERE phone = '13900000001'")
    again = _demo(path, tmp_path)
    assert "Kept the demo database" in again.stdout
    assert "陈小红改" in _names(path)
    assert _login_table(again.stdout) == table
    # Asked for a fresh one, it is built again from scratch.
    fresh = _demo(path, tmp_path, "--fresh")
    assert "Built just now" in fresh.stdout
    names = _names(path)
    assert "陈小红改" not in names and "陈小红" in names
    assert _login_table(fresh.stdout) == table


def test_a_half_built_demo_database_is_built_again(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    with sqlite3.connect(path) as conn:  # an earlier run stopped before the demo was complete
        conn.execute("CREATE TABLE leftover (x INTEGER)")
    r = _demo(path, tmp_path)
    assert "Built just now" in r.stdout and "陈小红" in _names(path)
    with sqlite3.connect(path) as conn:
        assert not conn.execute("SELECT name FROM sqlite_master WHERE name = 'leftover'").fetchall()
