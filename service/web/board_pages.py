"""Pages of the public board: /board/<cid or code>, its short address /b/<code> and the A4 poster
/b/<code>/poster. Anyone may read them (no login); names are masked."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.board import views
from service.config import Settings
from service.web.render import page
from service.web.rewards_pages import STATUS_NAMES

__all__ = ["ROUTES"]

MonthParam = Annotated[str | None, Parameter(max_length=7)]


async def _render_board(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor | None, key: str, month: str | None
) -> Response[str]:
    shown = await views.board_page(db, actor, key, month)
    return page(
        request,
        "rewards/board.html",
        actor,
        board=shown.board,
        can_object=shown.can_object,
        receipts=shown.receipts,
        status_names=STATUS_NAMES,
    )


@get("/board/{cid:str}", include_in_schema=False)
async def board_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    maybe_actor: Actor | None,
    cid: str,
    month: MonthParam = None,
) -> Response[str]:
    """The public notice board: anyone may read it, no login; names are masked."""
    return await _render_board(request, db, maybe_actor, cid, month)


@get("/b/{code:str}", include_in_schema=False)
async def board_short_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    maybe_actor: Actor | None,
    code: str,
    month: MonthParam = None,
) -> Response[str]:
    """The board at the short address printed on the notice wall's poster (its QR)."""
    return await _render_board(request, db, maybe_actor, code, month)


@get("/b/{code:str}/poster", include_in_schema=False)
async def board_poster_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    maybe_actor: Actor | None,
    settings: Settings,
    code: str,
) -> Response[str]:
    """An A4 sheet for the notice wall: the community's name and the QR of its board's short address."""
    sheet = await views.poster(db, code, settings.public_url)
    return page(
        request,
        "rewards/board_poster.html",
        maybe_actor,
        community=sheet.community,
        url=sheet.url,
        svg=sheet.svg,
    )


ROUTES: list[Any] = [board_page, board_short_page, board_poster_page]
