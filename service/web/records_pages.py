"""Pages of the records: a certificate (print view), its public verification, a member's certificates
(issue a new one), and one's own ID document. Each handler parses, calls one view function of
``service.records`` and renders."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.config import Settings
from service.errors import Forbidden
from service.records import crypto, rules, views
from service.web.render import page

__all__ = ["ROUTES"]

Text64 = Annotated[str, Parameter(max_length=80)]


def _keys(settings: Settings) -> crypto.IdKeys:
    return crypto.id_keys(settings.id_key, settings.secret_key)


@get("/certificates/verify", include_in_schema=False)
async def verify_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    maybe_actor: Actor | None,
    settings: Settings,
    n: Text64 = "",
    s: Text64 = "",
) -> Response[str]:
    """Anyone holding a certificate: the same facts (masked) and whether it is still valid."""
    v = await views.verify(db, _keys(settings), n, s)
    return page(request, "records/verify.html", maybe_actor, status=200 if v.genuine else 404, v=v)


@get("/certificates/{cert_id:uuid}", include_in_schema=False)
async def certificate_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, settings: Settings, cert_id: uuid.UUID
) -> Response[str]:
    sheet = await views.certificate_sheet(db, actor, cert_id, _keys(settings), settings.public_url)
    return page(request, "records/certificate.html", actor, sheet=sheet, qr=Markup(sheet.qr_svg))


@get("/members/{mid:uuid}/certificates", include_in_schema=False)
async def member_certificates_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, mid: uuid.UUID, community: Text64 = ""
) -> Response[str]:
    try:
        cid = uuid.UUID(community)
    except ValueError as exc:
        raise Forbidden(detail=views.CERTIFICATE_REFUSED) from exc
    data = await views.member_certificates(db, actor, mid, cid)
    return page(request, "records/member.html", actor, data=data)


@get("/me/identity", include_in_schema=False)
async def identity_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, settings: Settings
) -> Response[str]:
    mine = await views.identity_or_none(db, actor)
    return page(request, "records/identity.html", actor, mine=mine, types=rules.ID_TYPE_NAMES)


ROUTES: list[Any] = [verify_page, certificate_page, member_certificates_page, identity_page]
