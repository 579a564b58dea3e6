"""HTTP routes of the accounts domain: parse, call the service, return a Struct."""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service
from service.accounts.models import Community, Member, Partner
from service.accounts.schemas import (
    CommunityIn,
    CommunityOut,
    ImportOut,
    LoginIn,
    LoginOut,
    MemberIn,
    MemberOut,
    MemberPage,
    MeOut,
    PartnerIn,
    PartnerOut,
    PasswordIn,
    RegisterIn,
    RoleOut,
)
from service.accounts.service import Actor
from service.config import IMPORT_ROWS_MAX, TOKEN_LIFETIME_SECONDS, Settings
from service.errors import InvalidInput, localise
from service.http import CSRF_COOKIE, TOKEN_COOKIE, Limit, decode_cursor, encode_cursor

__all__ = ["AuthController", "CommunityController", "MeController"]


def community_out(c: Community) -> CommunityOut:
    return CommunityOut(c.id, c.name, c.code, c.timezone, c.allow_registration, c.created_at)


def partner_out(p: Partner) -> PartnerOut:
    return PartnerOut(p.id, p.community_id, p.name, p.address, p.active)


async def me_out(db: AsyncSession, member: Member) -> MeOut:
    roles = [RoleOut(r.community_id, r.role, r.partner_id) for r in await service.roles_of(db, member.id)]
    return MeOut(member.id, member.phone, member.name, roles, member.is_platform_admin)


def _login_response(body: LoginOut, settings: Settings, status: int) -> Response[LoginOut]:
    cookies = [
        Cookie(
            key=TOKEN_COOKIE,
            value=body.token,
            httponly=True,
            samesite="lax",
            path="/",
            secure=settings.secure_cookies,
            max_age=TOKEN_LIFETIME_SECONDS,
        ),
        Cookie(
            key=CSRF_COOKIE,
            value=secrets.token_urlsafe(24),
            httponly=False,
            samesite="strict",
            path="/",
            secure=settings.secure_cookies,
            max_age=TOKEN_LIFETIME_SECONDS,
        ),
    ]
    return Response(body, status_code=status, cookies=cookies)


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["accounts"]

    @post(
        "/login",
        status_code=200,
        summary="Log in with phone and password",
        description="Returns a bearer token and sets it as an HttpOnly cookie for pages. "
        "Errors: invalid_credentials (401), too_many_attempts (429, Retry-After).",
    )
    async def login(
        self, request: Request[Any, Any, Any], db: AsyncSession, settings: Settings, data: LoginIn
    ) -> Response[LoginOut]:
        client = request.client.host if request.client else "unknown"
        token, member = await service.login(db, data.phone, data.password, client, settings.secret_key)
        return _login_response(LoginOut(token, await me_out(db, member)), settings, 200)

    @post(
        "/register",
        status_code=201,
        summary="Create an account in a community that allows sign-ups",
        description="Errors: invalid_phone, invalid_password, phone_taken (409), registration_closed (403).",
    )
    async def register(self, db: AsyncSession, settings: Settings, data: RegisterIn) -> Response[LoginOut]:
        member = await service.register(db, data.phone, data.name, data.password, data.community_id)
        token = service.issue_token(member, settings.secret_key)
        return _login_response(LoginOut(token, await me_out(db, member)), settings, 201)

    @post("/logout", status_code=200, summary="End every login of the caller and clear the cookie")
    async def logout(self, db: AsyncSession, actor: Actor) -> Response[dict[str, str]]:
        await service.logout(db, actor)
        response: Response[dict[str, str]] = Response({"status": "logged_out"})
        response.delete_cookie(TOKEN_COOKIE, path="/")
        return response


class MeController(Controller):
    path = "/api/v1/me"
    tags = ["accounts"]

    @get("", summary="The caller, with roles per community")
    async def me(self, db: AsyncSession, actor: Actor) -> MeOut:
        return await me_out(db, await service.get_member(db, actor.member_id))

    @post("/password", status_code=200, summary="Change the caller's password (ends other logins)")
    async def change_password(self, db: AsyncSession, actor: Actor, data: PasswordIn) -> dict[str, str]:
        await service.set_password(db, actor, actor.member_id, data.password)
        return {"status": "changed"}


class CommunityController(Controller):
    path = "/api/v1/communities"
    tags = ["accounts"]

    @post(
        "",
        summary="Create a community (platform admin)",
        description="Errors: invalid_code, invalid_timezone, community_code_taken (409).",
    )
    async def create(self, db: AsyncSession, actor: Actor, data: CommunityIn) -> CommunityOut:
        c = await service.create_community(
            db, actor, data.name, data.code, data.timezone, data.allow_registration
        )
        return community_out(c)

    @get("/{cid:uuid}", summary="A community's public details")
    async def show(self, db: AsyncSession, cid: uuid.UUID) -> CommunityOut:
        return community_out(await service.get_community(db, cid))

    @post(
        "/{cid:uuid}/members",
        summary="Add a member or give an existing phone a role (admin)",
        description="Errors: invalid_phone, invalid_name, invalid_role, partner_required, forbidden.",
    )
    async def add_member(self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: MemberIn) -> MemberOut:
        member = await service.add_member(
            db, actor, cid, data.phone, data.name, data.password, data.role, data.partner_id
        )
        roles = [
            RoleOut(r.community_id, r.role, r.partner_id)
            for r in await service.roles_of(db, member.id)
            if r.community_id == cid
        ]
        return MemberOut(member.id, member.phone, member.name, roles)

    @get("/{cid:uuid}/members", summary="Members of a community (staff)")
    async def list_members(
        self,
        db: AsyncSession,
        actor: Actor,
        cid: uuid.UUID,
        limit: Limit,
        cursor: Annotated[str | None, Parameter(max_length=200)] = None,
        q: Annotated[str | None, Parameter(max_length=64, description="name or phone contains")] = None,
    ) -> MemberPage:
        after = decode_cursor(cursor)
        try:
            after_id = uuid.UUID(after) if after else None
        except ValueError as exc:
            raise InvalidInput("invalid_cursor", "The cursor is not one this API gave out.") from exc
        rows, last = await service.list_members(db, actor, cid, limit, after_id, q)
        items = [MemberOut(m.id, m.phone, m.name, [RoleOut(cid, r) for r in roles]) for m, roles in rows]
        return MemberPage(items, encode_cursor(str(last)) if last else None)

    @post(
        "/{cid:uuid}/members/{mid:uuid}/password",
        status_code=200,
        summary="Reset a member's password (admin); ends the member's logins",
    )
    async def reset_password(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, mid: uuid.UUID, data: PasswordIn
    ) -> dict[str, str]:
        await service.set_password(db, actor, mid, data.password, community_id=cid)
        return {"status": "changed"}

    @post(
        "/{cid:uuid}/members/import",
        status_code=200,
        request_max_body_size=8 * 1_048_576,
        summary="Bulk-import members from CSV (phone,name[,role]) sent as the request body (admin)",
        description="Nothing is imported when a row is bad, unless skip_bad=true; every bad row is "
        "reported with its line number. Error: import_rejected (422).",
    )
    async def import_members(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        cid: uuid.UUID,
        skip_bad: bool = False,
    ) -> ImportOut:
        await service.get_community(db, cid)
        await service.require_role(db, actor, cid, "admin")
        try:
            text = (await request.body()).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput("import_not_utf8", "Save the spreadsheet as CSV UTF-8 and try again.") from exc
        rows, problems = service.parse_import_csv(text)
        if len(rows) > IMPORT_ROWS_MAX:
            raise InvalidInput(
                "import_too_large",
                "At most %(max)s rows per file.",
                params={"max": IMPORT_ROWS_MAX},
            )
        errors: list[dict[str, int | str]] = [
            {"line": p.line, "message": localise(request, p.template, p.params)} for p in problems
        ]
        if problems and not skip_bad:
            raise InvalidInput(
                "import_rejected",
                "%(count)s bad rows; nothing was imported.",
                errors=[
                    {
                        "field": f"line {e['line']}",
                        "message": localise(request, "Line %(line)s: %(message)s", dict(e)),
                    }
                    for e in errors
                ],
                params={"count": len(problems)},
            )
        report = await service.import_members(db, cid, rows)
        return ImportOut(report.created, report.updated, errors)

    @post(
        "/{cid:uuid}/partners",
        summary="Add a partner shop or unit to the alliance (admin)",
        description="Errors: invalid_name, partner_name_taken (409), forbidden.",
    )
    async def create_partner(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: PartnerIn
    ) -> PartnerOut:
        return partner_out(await service.create_partner(db, actor, cid, data.name, data.address))

    @get("/{cid:uuid}/partners", summary="Partners of the community's alliance")
    async def list_partners(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> list[PartnerOut]:
        await service.get_community(db, cid)
        return [partner_out(p) for p in await service.list_partners(db, cid)]
