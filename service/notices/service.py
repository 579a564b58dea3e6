"""Notices: written by the domain where something happened, read and marked read by their member."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import views as people
from service.accounts.actor import Actor
from service.accounts.sms import SmsSender
from service.errors import raises
from service.notices import rules
from service.notices.errors import NoticeNotFound
from service.notices.models import Notice, NoticeKind

__all__ = ["forget", "mark_read", "notify", "text_them"]


async def notify(
    db: AsyncSession,
    *,
    member_id: uuid.UUID,
    community_id: uuid.UUID,
    kind: NoticeKind,
    params: dict[str, Any],
    link: str,
) -> Notice:
    """A notice to ``member_id`` (in the caller's transaction: it exists if what it tells happened)."""
    notice = Notice(
        member_id=member_id,
        community_id=community_id,
        kind=kind,
        params=params,
        link=link,
        created_at=clock.now(),
    )
    db.add(notice)
    await db.flush()
    return notice


async def text_them(db: AsyncSession, notices: list[Notice], sender: SmsSender) -> None:
    """Send each notice as a text message too, to its member's phone (the backend decides whether and
    how: ``JIFEN_SMS_BACKEND``; ``off`` sends nothing). A failing provider loses the text, not the notice."""
    phones = await people.members_by_id(db, {n.member_id for n in notices})
    for notice in notices:
        member = phones.get(notice.member_id)
        if member is not None:
            await sender.send(member.phone, rules.sms_text(notice.kind, notice.params))


@raises(NoticeNotFound)
async def mark_read(db: AsyncSession, actor: Actor, notice_id: uuid.UUID) -> Notice:
    """Mark one of the caller's notices read (again is a no-op). Someone else's is "no such notice"."""
    notice = await db.get(Notice, notice_id)
    if notice is None or notice.member_id != actor.member_id:
        raise NoticeNotFound()
    if notice.read_at is None:
        notice.read_at = clock.now()
        await db.flush()
    return notice


async def forget(db: AsyncSession, member_id: uuid.UUID) -> None:
    """A deleted person's notices go (they name wishes and other people, and nobody reads them now)."""
    await db.execute(delete(Notice).where(Notice.member_id == member_id))
