"""The audit log page: a community's admins read its staff acts; platform admins read every community's."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service as accounts
from service.accounts.models import Community
from service.accounts.service import Actor
from service.audit import service as audit
from service.config import LIST_LIMIT_DEFAULT
from service.errors import DomainError
from service.http import decode_cursor, encode_cursor
from service.web.pages import ADMIN_LINKS, N_, ROLE_NAMES, admin_community
from service.web.render import page

__all__ = ["ACTION_NAMES", "ROUTES"]

ACTION_NAMES = {
    "award_requested": N_("Award requested"),
    "award_approved": N_("Award approved"),
    "award_rejected": N_("Award rejected"),
    "transfer_reversed": N_("Transfer corrected"),
    "manual_attendance_approved": N_("Manual attendance approved"),
    "manual_attendance_rejected": N_("Manual attendance rejected"),
    "role_granted": N_("Role granted"),
    "role_removed": N_("Role removed"),
    "password_set": N_("Password set"),
    "phone_changed": N_("Phone changed"),
    "name_changed": N_("Name changed"),
    "members_imported": N_("Members imported"),
}
"""Actions in plain words (English msgids; the template translates them). Unknown actions show as is."""

ADMIN_LINKS.append(("/admin/audit", N_("Audit log")))


@get("/admin/audit", include_in_schema=False)
async def audit_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    community: Annotated[str | None, Parameter(max_length=64)] = None,
    cursor: Annotated[str | None, Parameter(max_length=200)] = None,
) -> Response[str]:
    chosen: Community | None = None
    if community or not actor.is_platform_admin:
        found = await admin_community(request, db, actor, community)
        if isinstance(found, Response):
            return found
        chosen = found
    try:
        raw = decode_cursor(cursor)
        before = uuid.UUID(raw) if raw else None
    except (ValueError, DomainError):
        before = None
    rows, last = await audit.list_events(
        db, actor, community_id=chosen.id if chosen else None, limit=LIST_LIMIT_DEFAULT, before=before
    )
    ids = {v.event.community_id for v in rows if v.event.community_id is not None}
    names = {c.id: c for c in await accounts.list_communities(db, ids)}
    return page(
        request,
        "admin/audit.html",
        actor,
        community=chosen,
        communities=names,
        events=rows,
        action_names=ACTION_NAMES,
        role_names=ROLE_NAMES,
        next_cursor=encode_cursor(str(last)) if last else None,
        admin_links=ADMIN_LINKS,
    )


ROUTES: list[Any] = [audit_page]
