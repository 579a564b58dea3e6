"""Pages that get residents in: the join page of an invitation card, sign-up at an event, the printable
sheet of invitation cards, and the favicon."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import onboarding
from service.accounts import rules as account_rules
from service.accounts import service as accounts
from service.accounts.actor import Actor
from service.config import Settings
from service.errors import NotFound
from service.http import device_of
from service.kit import qr
from service.web.guards import admin_community
from service.web.pages import scan_community
from service.web.render import page

__all__ = ["CARDS_PER_SHEET", "ROUTES"]

CARDS_PER_SHEET = 6
"""Invitation cards on one A4 sheet (2 columns x 3 rows of 95 x 90 mm, cut along the lines): room for
12 pt text and the whole join address (issue 22)."""
INVITATION_MEMBERS_MAX = 400
"""Members one printing request may name (the "all pending" link has no limit of its own: 50 sheets)."""
FAVICON = Path(__file__).parent / "static" / "favicon.ico"


def _svg(url: str) -> Markup:
    text = qr.svg(url).decode()
    return Markup(text[text.index("<svg") :])


def _client(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


@get("/join/{code:str}", include_in_schema=False)
async def join_page(
    request: Request[Any, Any, Any], db: AsyncSession, maybe_actor: Actor | None, code: str
) -> Response[str]:
    """The URL in an invitation card's QR: whose card it is, and a form to choose one's password."""
    view = await onboarding.activation_view(db, code[:32], _client(request), device_of(request))
    return page(
        request,
        "onboarding/join.html",
        maybe_actor,
        view=view,
        code=account_rules.normalise_activation_code(code),
        tz=view.timezone,
        privacy_version=account_rules.PRIVACY_NOTICE_VERSION,
    )


@get("/register", include_in_schema=False)
async def register_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    settings: Settings,
    maybe_actor: Actor | None,
    next: Annotated[str | None, Parameter(max_length=500)] = None,
) -> Response[str]:
    """Sign-up after scanning an event's code: the community is the one running the activity."""
    community = await scan_community(request, db, settings, next or "")
    if community is None:
        raise NotFound(detail="Scan the code at the activity again to sign up there.")
    version = account_rules.PRIVACY_NOTICE_VERSION
    return page(
        request,
        "onboarding/register.html",
        maybe_actor,
        community=community,
        next=next,
        privacy_version=version,
    )


@get("/me/secure", include_in_schema=False)
async def secure_page(request: Request[Any, Any, Any], db: AsyncSession, actor: Actor) -> Response[str]:
    """Set a new password with an SMS code to one's own phone (ends a hold: ``Member.held_by``)."""
    member = await accounts.get_member(db, actor.member_id)
    return page(request, "onboarding/secure.html", actor, phone=member.phone, held=member.held_by is not None)


def _member_ids(raw: list[str]) -> list[uuid.UUID]:
    ids = []
    for value in raw[:INVITATION_MEMBERS_MAX]:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    return ids


Printed = tuple[onboarding.InvitationCard, str, Markup]


def _cards_context(cards: list[onboarding.InvitationCard], public_url: str) -> dict[str, Any]:
    """The cards as printed (card, grouped code, QR of the join URL), CARDS_PER_SHEET to an A4 sheet."""
    printed: list[Printed] = [
        (card, account_rules.format_activation_code(card.code), _svg(f"{public_url}/join/{card.code}"))
        for card in cards
    ]
    sheets = [printed[i : i + CARDS_PER_SHEET] for i in range(0, len(printed), CARDS_PER_SHEET)]
    return {"sheets": sheets, "count": len(printed), "join_base": f"{public_url}/join/"}


@get("/admin/invitations", include_in_schema=False)
async def invitations_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    settings: Settings,
    community: Annotated[str | None, Parameter(max_length=64)] = None,
    member: Annotated[list[str] | None, Parameter(max_items=INVITATION_MEMBERS_MAX)] = None,
) -> Response[str]:
    """A4 sheets of invitation cards: the chosen members', or every open code of the community."""
    chosen = await admin_community(request, db, actor, community)
    wanted = _member_ids(member) if member else None
    cards = await onboarding.invitation_cards(db, actor, chosen.id, settings.secret_key, wanted)
    return page(
        request,
        "onboarding/invitations.html",
        actor,
        community=chosen,
        tz=chosen.timezone,
        **_cards_context(cards, settings.public_url),
    )


@get("/favicon.ico", include_in_schema=False, cache_control=None)
async def favicon() -> Response[bytes]:
    return Response(
        FAVICON.read_bytes(),
        media_type="image/x-icon",
        headers={"Cache-Control": "public, max-age=604800"},
    )


ROUTES: list[Any] = [join_page, register_page, secure_page, invitations_page, favicon]
