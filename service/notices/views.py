"""The caller's notices: newest first, with the unread count (two queries)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.notices import rules
from service.notices.models import Notice

__all__ = ["Notices", "my_notices", "unread_count"]


@dataclass(frozen=True)
class Notices:
    items: list[Notice]
    unread: int


async def unread_count(db: AsyncSession, member_id: uuid.UUID) -> int:
    return int(
        await db.scalar(
            select(func.count())
            .select_from(Notice)
            .where(Notice.member_id == member_id, Notice.read_at.is_(None))
        )
        or 0
    )


async def my_notices(
    db: AsyncSession, actor: Actor, *, unread_only: bool = False, limit: int = rules.NOTICES_SHOWN_MAX
) -> Notices:
    """The caller's notices, newest first (at most :data:`rules.NOTICES_SHOWN_MAX`), and how many are
    unread."""
    stmt = select(Notice).where(Notice.member_id == actor.member_id)
    if unread_only:
        stmt = stmt.where(Notice.read_at.is_(None))
    limit = max(1, min(limit, rules.NOTICES_SHOWN_MAX))
    found = list(await db.scalars(stmt.order_by(Notice.created_at.desc(), Notice.id.desc()).limit(limit)))
    return Notices(items=found, unread=await unread_count(db, actor.member_id))
