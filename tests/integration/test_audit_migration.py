"""Migration 0017 chains the audit events written before it, in the order they were written (SQLite)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from service.audit import views
from service.db import create_engine, create_session_maker, upgrade_database
from tests.support.database import in_thread


async def test_events_before_the_chain_are_chained(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    in_thread(upgrade_database, url, "0015")
    engine = create_engine(url)
    try:
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        async with engine.begin() as conn:
            cid = uuid.uuid4()
            await conn.execute(
                text(
                    "INSERT INTO communities (id, name, code, timezone, self_registration, created_at)"
                    " VALUES (:id, '旧社区', 'old', 'Asia/Shanghai', 'auto', :t)"
                ),
                {"id": cid.hex, "t": t0.isoformat()},
            )
            for n, community in enumerate((cid, cid, None, cid)):
                await conn.execute(
                    text(
                        "INSERT INTO audit_events (id, community_id, action, detail, created_at)"
                        " VALUES (:id, :c, 'award_requested', :d, :t)"
                    ),
                    {
                        "id": uuid.uuid4().hex,
                        "c": community.hex if community else None,
                        "d": f'{{"points": {n}}}',
                        "t": (t0 + timedelta(minutes=n)).isoformat(),
                    },
                )
        await engine.dispose()
        in_thread(upgrade_database, url)
        engine = create_engine(url)
        async with create_session_maker(engine)() as db:
            reports = {c: await views.verify_chain(db, c) for c in await views.chains(db)}
        assert {c: (r.ok, r.events_checked) for c, r in reports.items() if "#" not in c} == {
            str(cid): (True, 3),
            "platform": (True, 1),
        }
        # PostgreSQL: 0022b gave every chain its other (empty) heads.
        assert all(r.ok and r.events_checked == 0 for c, r in reports.items() if "#" in c)
    finally:
        await engine.dispose()
