"""Pages of the points domain: the balance panel on the home page, the history page, and the admin
awards page (award form and approval queue)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service as accounts
from service.accounts.models import Community
from service.accounts.service import Actor
from service.config import LIST_LIMIT_DEFAULT
from service.errors import DomainError
from service.http import decode_cursor, encode_cursor
from service.points import service as points
from service.web.pages import N_, admin_community
from service.web.render import page

__all__ = ["REASONS", "ROUTES", "reason_of"]

HOME_HISTORY_ROWS = 5
"""History lines on the home page panel."""
MEMBER_CHOICES_MAX = 200
"""Members offered in the award form (search by name or phone narrows it)."""
Param = Annotated[str | None, Parameter(max_length=200)]

REASONS = {
    "checkin": N_("Volunteer activity"),
    "manual_award": N_("Awarded by the community (manual)"),
    "claim": N_("Good conduct award"),
    "wish": N_("Micro-wish"),
    "order": N_("Points supermarket"),
    "voucher": N_("Partner shop discount"),
    "expiry": N_("Points expired"),
    "reversal": N_("Correction"),
    "transfer": N_("Transfer"),
    "demo": N_("Welcome points"),
}
"""Reason codes in plain words (English msgids; the templates translate them)."""


def reason_of(code: str) -> str:
    return REASONS.get(code, N_("Other"))


async def _home_panel(db: AsyncSession, actor: Actor, c: Community) -> dict[str, Any]:
    bal = await points.balance(db, c.id, actor.member_id)
    history, more = await points.entries(db, c.id, actor.member_id, limit=HOME_HISTORY_ROWS)
    by_day: dict[date, int] = {}
    for pts, at in bal.expiring:
        day = at.astimezone(ZoneInfo(c.timezone)).date()
        by_day[day] = by_day.get(day, 0) + pts
    return {
        "points_balance": bal,
        "points_expiring": sum(p for p, _ in bal.expiring),
        "points_expiring_days": sorted(by_day.items()),
        "points_history": [(e, reason_of(e.code)) for e in history],
        "points_more": more is not None,
    }


HOME_PANELS = [("points/_home_panel.html", _home_panel)]
ADMIN_LINKS = [("/admin/awards", "Awards")]


def _error(request: Request[Any, Any, Any], actor: Actor | None, exc: DomainError) -> Response[str]:
    return page(request, "error.html", actor, status=exc.status, title=str(exc.status), detail=exc)


@get("/points", include_in_schema=False)
async def history_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    community: Param = None,
    cursor: Param = None,
    code: Annotated[str | None, Parameter(max_length=32)] = None,
) -> Response[str]:
    chosen = await admin_community(request, db, actor, community, "member")
    if isinstance(chosen, Response):
        return chosen
    try:
        raw = decode_cursor(cursor)
        before = int(raw) if raw and raw.isdigit() else None
    except DomainError:
        before = None
    rows, last = await points.entries(
        db, chosen.id, actor.member_id, limit=LIST_LIMIT_DEFAULT, before_seq=before, code=code or None
    )
    return page(
        request,
        "points/history.html",
        actor,
        community=chosen,
        balance=await points.balance(db, chosen.id, actor.member_id),
        entries=rows,
        code=code or "",
        reasons=REASONS,
        reason_of=reason_of,
        next_cursor=encode_cursor(str(last)) if last is not None else None,
    )


@get("/admin/awards", include_in_schema=False)
async def awards_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    community: Param = None,
    q: Annotated[str | None, Parameter(max_length=64)] = None,
) -> Response[str]:
    chosen = await admin_community(request, db, actor, community)
    if isinstance(chosen, Response):
        return chosen
    try:
        awards = await points.list_awards(db, actor, chosen.id, limit=LIST_LIMIT_DEFAULT)
    except DomainError as exc:
        return _error(request, actor, exc)
    people: dict[uuid.UUID, str] = {}
    for a in awards:
        for mid in (a.member_id, a.requested_by, a.decided_by):
            if mid is not None and mid not in people:
                people[mid] = (await accounts.get_member(db, mid)).name
    members, _ = await accounts.list_members(db, actor, chosen.id, MEMBER_CHOICES_MAX, None, q or None)
    return page(
        request,
        "points/awards.html",
        actor,
        community=chosen,
        pending=[a for a in awards if a.status == "pending_approval"],
        decided=[a for a in awards if a.status != "pending_approval"],
        people=people,
        members=[m for m, _ in members],
        policy=await points.get_policy(db, chosen.id),
        q=q or "",
    )


ROUTES: list[Any] = [history_page, awards_page]
