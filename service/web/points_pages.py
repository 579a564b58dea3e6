"""Pages of the points domain: the balance panel on the home page, the history page, and the admin
awards page (award form and approval queue)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.accounts.models import Community
from service.config import LIST_LIMIT_DEFAULT
from service.errors import DomainError
from service.http import decode_cursor, encode_cursor
from service.points import views
from service.web.pages import N_, admin_community
from service.web.render import page

__all__ = ["REASONS", "ROUTES", "reason_of"]

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
    "deduction": N_("Deduction (village rules)"),
    "correction": N_("Attendance record corrected"),
    "transfer": N_("Transfer"),
    "demo": N_("Welcome points"),
}
"""Reason codes in plain words (English msgids; the templates translate them)."""


def reason_of(code: str) -> str:
    return REASONS.get(code, N_("Other"))


async def _home_panel(db: AsyncSession, actor: Actor, c: Community) -> dict[str, Any]:
    panel = await views.home_panel(db, actor.member_id, c.id, c.timezone)
    return {
        "points_balance": panel.balance,
        "points_expiring": panel.expiring,
        "points_expiring_days": panel.expiring_days,
        "points_history": [(e, reason_of(e.code)) for e in panel.history],
        "points_more": panel.more,
    }


HOME_PANELS = [("points/_home_panel.html", _home_panel)]
ADMIN_LINKS = [("/admin/awards", "Awards")]


def _before(cursor: str | None) -> int | None:
    """The history page's cursor as an entry ``seq``; a damaged one starts from the newest."""
    try:
        raw = decode_cursor(cursor)
    except DomainError:
        return None
    return int(raw) if raw and raw.isdigit() else None


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
    found = await views.history(
        db, actor, chosen.id, limit=LIST_LIMIT_DEFAULT, before_seq=_before(cursor), code=code or None
    )
    last = found.next_seq
    return page(
        request, "points/history.html", actor, community=chosen, balance=found.balance, entries=found.entries,
        code=code or "", reasons=REASONS, reason_of=reason_of, pending=found.pending,
        next_cursor=encode_cursor(str(last)) if last is not None else None,
    )  # fmt: skip


@get("/admin/awards", include_in_schema=False)
async def awards_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    community: Param = None,
    q: Annotated[str | None, Parameter(max_length=64)] = None,
) -> Response[str]:
    chosen = await admin_community(request, db, actor, community)
    desk = await views.awards_desk(db, actor, chosen.id, limit=LIST_LIMIT_DEFAULT, query=q)
    return page(
        request, "points/awards.html", actor, community=chosen, pending=desk.pending, decided=desk.decided,
        people=desk.people, members=desk.members, policy=desk.policy, q=q or "",
    )  # fmt: skip


ROUTES: list[Any] = [history_page, awards_page]
