"""HTTP routes of notices: the caller's list with the unread count, and marking one read."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.http import errors_of
from service.notices import rules, service, views
from service.notices.models import Notice
from service.notices.schemas import NoticeOut, NoticesOut
from service.problems import localise

__all__ = ["ROUTES", "NoticesController", "notice_out"]


def notice_out(request: Request[Any, Any, Any], n: Notice) -> NoticeOut:
    return NoticeOut(
        id=n.id,
        community_id=n.community_id,
        kind=n.kind,
        text=localise(request, rules.NOTICE_TEXTS[n.kind], dict(n.params)),
        params=dict(n.params),
        link=n.link,
        created_at=n.created_at,
        read_at=n.read_at,
    )


class NoticesController(Controller):
    path = "/api/v1/me/notices"
    tags = ["notices"]

    @get(
        "",
        summary="My notices (站内通知), newest first, with the unread count",
        description=f"At most {rules.NOTICES_SHOWN_MAX}; ``unread=true`` lists only the unread ones.",
    )
    async def list_notices(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        unread: bool = False,
        limit: Annotated[int, Parameter(ge=1, le=rules.NOTICES_SHOWN_MAX)] = rules.NOTICES_SHOWN_MAX,
    ) -> NoticesOut:
        found = await views.my_notices(db, actor, unread_only=unread, limit=limit)
        return NoticesOut(items=[notice_out(request, n) for n in found.items], unread=found.unread)

    @post(
        "/{notice_id:uuid}/read",
        status_code=200,
        summary="Mark one of my notices read",
        responses=errors_of(service.mark_read),
    )
    async def read(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, notice_id: uuid.UUID
    ) -> NoticeOut:
        return notice_out(request, await service.mark_read(db, actor, notice_id))


ROUTES: list[Any] = [NoticesController]
