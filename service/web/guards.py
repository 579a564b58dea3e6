"""Guards shared by page handlers, so a page reads like an API handler: parse, call one function, render.

A guard returns what the handler needs or raises: a :class:`~service.errors.DomainError` (the error page
in the reader's language, ``service.errors.set_error_page``) or :class:`ShowPage` (a page that answers the
visit instead of the handler, such as the community chooser). ``create_app`` installs :func:`show_page`.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import onboarding
from service.accounts import service as accounts
from service.accounts import views as accounts_views
from service.accounts.actor import Actor
from service.accounts.errors import CommunityNotFound
from service.accounts.models import Community
from service.errors import DomainError, Forbidden, raises
from service.http import decode_cursor, encode_cursor
from service.web.render import page

__all__ = ["NO_ROLE", "ShowPage", "admin_community", "lenient_cursor", "next_cursor", "show_page"]

NO_ROLE = "You do not have the role this needs in this community."


class ShowPage(Exception):
    """Raised by a guard that answers the visit itself (e.g. the community chooser)."""

    def __init__(self, response: Response[str]) -> None:
        super().__init__("a guard answered the visit with its own page")
        self.response = response


def show_page(request: Request[Any, Any, Any], exc: ShowPage) -> Response[str]:
    """The exception handler that sends a guard's page (installed by ``create_app``)."""
    return exc.response


@raises(Forbidden)
async def _community_for(db: AsyncSession, actor: Actor, raw: str, roles: tuple[str, ...]) -> Community:
    """The community ``raw`` names if the caller holds one of ``roles`` there, else ``forbidden``
    (a malformed or unknown id too: a page does not tell which communities exist)."""
    try:
        cid = uuid.UUID(raw)
    except ValueError as exc:
        raise Forbidden(detail=NO_ROLE) from exc
    if not (await accounts_views.roles_in(db, actor, cid)).any(*roles):
        raise Forbidden(detail=NO_ROLE)
    try:
        return await accounts.get_community(db, cid)
    except CommunityNotFound as exc:
        raise Forbidden(detail=NO_ROLE) from exc


@raises(_community_for, onboarding.list_all_communities)
async def admin_community(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: str | None, *roles: str
) -> Community:
    """The community an administration page is about (``?community=``), for a caller with one of
    ``roles`` there (default ``admin``; an admin passes every check).

    Without ``?community=``: the caller's only such community, else the chooser page is shown
    (:class:`ShowPage`); a platform admin's chooser lists every community and a form to create one.
    """
    wanted = roles or (accounts_views.ADMIN_ROLE,)
    if community:
        return await _community_for(db, actor, community, wanted)
    if actor.is_platform_admin:
        counted = await onboarding.list_all_communities(db, actor)
        chooser = page(
            request, "admin/choose.html", actor, communities=[c for c, _ in counted], counted=counted
        )
        raise ShowPage(chooser)
    communities = await accounts_views.communities_where(db, actor, *wanted)
    if len(communities) == 1:
        return communities[0]
    raise ShowPage(page(request, "admin/choose.html", actor, communities=communities, counted=None))


def lenient_cursor(cursor: str | None) -> uuid.UUID | None:
    """A page's ``?cursor=`` as an id; a damaged one starts again at the first page (pages never refuse)."""
    try:
        raw = decode_cursor(cursor)
        return uuid.UUID(raw) if raw else None
    except (ValueError, DomainError):
        return None


def next_cursor(last: uuid.UUID | None) -> str | None:
    """The ``?cursor=`` of the next page after ``last`` (None on the last page)."""
    return encode_cursor(str(last)) if last else None
