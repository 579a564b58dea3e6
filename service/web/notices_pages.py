"""The notices page (/notices): what happened that the member should know, newest first, to mark read."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.notices import rules, views
from service.web.render import page

__all__ = ["HOME_NOTICES_MAX", "ROUTES", "home_notices"]

HOME_NOTICES_MAX = 3
"""Unread notices the home page shows (the rest are a tap away on /notices)."""


async def home_notices(db: AsyncSession, actor: Actor) -> dict[str, Any]:
    """The home page's notice area: the newest unread notices and how many are unread."""
    found = await views.my_notices(db, actor, unread_only=True, limit=HOME_NOTICES_MAX)
    return {"notices": found, "notice_texts": rules.NOTICE_TEXTS}


@get("/notices", include_in_schema=False)
async def notices_page(request: Request[Any, Any, Any], db: AsyncSession, actor: Actor) -> Response[str]:
    found = await views.my_notices(db, actor)
    return page(request, "notices/list.html", actor, notices=found, notice_texts=rules.NOTICE_TEXTS)


ROUTES: list[Any] = [notices_page]
