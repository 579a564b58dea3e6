"""HTTP routes of the accounts domain: parse, call the service, return a Struct."""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import Cookie
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import onboarding, service, sms
from service.accounts.actor import Actor
from service.accounts.errors import ImportNotUtf8, ImportRejected, ImportTooLarge
from service.accounts.models import Community, Member, Membership, Partner
from service.accounts.schemas import (
    ActivateIn,
    ActivationOut,
    CommunityIn,
    CommunityOut,
    CommunityPatch,
    ImportOut,
    IssuedActivationOut,
    LoginIn,
    LoginOut,
    MemberIn,
    MemberOut,
    MemberPage,
    MemberPatchIn,
    MeOut,
    PartnerIn,
    PartnerOut,
    PasswordIn,
    RegisterIn,
    RegisterOut,
    RegistrationOut,
    RoleOut,
    SecureIn,
    SmsCodeIn,
    SmsCodeOut,
    SmsLoginIn,
)
from service.config import IMPORT_ROWS_MAX, TOKEN_LIFETIME_SECONDS, Settings
from service.http import (
    CSRF_COOKIE,
    TOKEN_COOKIE,
    InvalidCursor,
    Limit,
    client_address,
    cursor_for,
    decode_cursor,
    device_of,
    errors_of,
    or_pending,
    pending_specs,
    raw_body,
)
from service.problems import localise

__all__ = ["AuthController", "CommunityController", "MeController", "RegistrationController"]


def community_out(c: Community) -> CommunityOut:
    return msgspec.convert(c, CommunityOut, from_attributes=True)


def partner_out(p: Partner) -> PartnerOut:
    return msgspec.convert(p, PartnerOut, from_attributes=True)


def role_out(m: Membership) -> RoleOut:
    return RoleOut(community_id=m.community_id, role=m.role, partner_id=m.partner_id)


async def me_out(db: AsyncSession, member: Member) -> MeOut:
    return MeOut(
        id=member.id,
        phone=member.phone,
        name=member.name,
        roles=[role_out(r) for r in await service.roles_of(db, member.id)],
        is_platform_admin=member.is_platform_admin,
        held=member.held_by is not None,
    )


LoginBody = TypeVar("LoginBody", bound=LoginOut)


def _login_response(body: LoginBody, settings: Settings, status: int) -> Response[LoginBody]:
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
        description="Returns a bearer token and sets it as an HttpOnly cookie for pages. At most "
        "5 passwords per phone are checked in 15 minutes; a client address with 100 failures is "
        "refused only for phones that failed themselves. A refusal for too many attempts carries "
        "Retry-After.",
        responses=errors_of(service.login),
    )
    async def login(
        self, request: Request[Any, Any, Any], db: AsyncSession, settings: Settings, data: LoginIn
    ) -> Response[LoginOut]:
        token, member = await service.login(
            db, data.phone, data.password, client_address(request), settings.secret_key
        )
        return _login_response(LoginOut(token=token, member=await me_out(db, member)), settings, 200)

    @post(
        "/register",
        status_code=201,
        summary="Sign up in a community that allows sign-ups, with the SMS code texted to the phone",
        description="sms_code is required (see sms-code); a password is optional. The answer is the same "
        "whether the phone had an account: an existing account is logged in (its name and password "
        "stay) and joins like a new one. status is joined, or pending_approval (202) where the "
        "community's admin approves sign-ups. Sign-ups and code guesses are limited per client address "
        "and per device.",
        responses={
            202: ResponseSpec(data_container=RegisterOut, description="pending_approval"),
            **errors_of(onboarding.register),
        },
    )
    async def register(
        self, request: Request[Any, Any, Any], db: AsyncSession, settings: Settings, data: RegisterIn
    ) -> Response[RegisterOut]:
        member, status = await onboarding.register(
            db,
            data.phone,
            data.name,
            data.community_id,
            settings.secret_key,
            data.password,
            data.sms_code,
            client=client_address(request),
            device=device_of(request),
            privacy_accepted=data.privacy_accepted,
        )
        token = service.issue_token(member, settings.secret_key)
        body = RegisterOut(token=token, member=await me_out(db, member), status=status)
        return _login_response(body, settings, 201 if status == "joined" else 202)

    @post(
        "/sms-code",
        status_code=200,
        summary="Text a one-time login code to a mobile number",
        description="The reply is the same whether the number has an account or not. Limited per "
        "number, per client address and per device.",
        responses=errors_of(onboarding.send_sms_code),
    )
    async def sms_code(
        self, request: Request[Any, Any, Any], db: AsyncSession, settings: Settings, data: SmsCodeIn
    ) -> SmsCodeOut:
        wait = await onboarding.send_sms_code(
            db,
            data.phone,
            client_address(request),
            sms.sender_for(settings),
            settings.secret_key,
            device_of(request),
        )
        return SmsCodeOut(status="sent", resend_after_s=wait)

    @post(
        "/sms-login",
        status_code=200,
        summary="Log in with the texted code",
        description="A code is used up after 5 wrong guesses.",
        responses=errors_of(onboarding.sms_login),
    )
    async def sms_login(
        self, request: Request[Any, Any, Any], db: AsyncSession, settings: Settings, data: SmsLoginIn
    ) -> Response[LoginOut]:
        token, member = await onboarding.sms_login(
            db, data.phone, data.code, settings.secret_key, client_address(request), device_of(request)
        )
        return _login_response(LoginOut(token=token, member=await me_out(db, member)), settings, 200)

    @get(
        "/activations/{code:str}",
        summary="Whose invitation or reset code this is (masked), before the resident sets a password",
        description="A used, expired, replaced or unknown code is activation_invalid.",
        responses=errors_of(onboarding.activation_view),
    )
    async def activation(self, request: Request[Any, Any, Any], db: AsyncSession, code: str) -> ActivationOut:
        view = await onboarding.activation_view(db, code[:32], client_address(request), device_of(request))
        return msgspec.convert(view, ActivationOut, from_attributes=True)

    @post(
        "/activate",
        status_code=200,
        summary="Set one's own password with a one-time code; logs in",
        description="A used, expired, replaced or unknown code is activation_invalid, and so is one "
        "whose person's roles changed since it was issued, or whom its issuer could not give a code "
        "today. Look-ups are limited per client address and per device.",
        responses=errors_of(onboarding.activate),
    )
    async def activate(
        self, request: Request[Any, Any, Any], db: AsyncSession, settings: Settings, data: ActivateIn
    ) -> Response[LoginOut]:
        token, member = await onboarding.activate(
            db,
            data.code,
            data.password,
            client_address(request),
            settings.secret_key,
            device_of(request),
            privacy_accepted=data.privacy_accepted,
        )
        return _login_response(LoginOut(token=token, member=await me_out(db, member)), settings, 200)

    @post(
        "/logout",
        status_code=200,
        summary="End every login of the caller and clear the cookie",
        responses=errors_of(service.logout),
    )
    async def logout(self, db: AsyncSession, actor: Actor) -> Response[dict[str, str]]:
        await service.logout(db, actor)
        response: Response[dict[str, str]] = Response({"status": "logged_out"})
        response.delete_cookie(TOKEN_COOKIE, path="/")
        return response


class MeController(Controller):
    path = "/api/v1/me"
    tags = ["accounts"]

    @get("", summary="The caller, with roles per community", responses=errors_of(service.get_member))
    async def me(self, db: AsyncSession, actor: Actor) -> MeOut:
        return await me_out(db, await service.get_member(db, actor.member_id))

    @post(
        "/password",
        status_code=200,
        summary="Change the caller's password (ends other logins)",
        responses=errors_of(service.set_password),
    )
    async def change_password(self, db: AsyncSession, actor: Actor, data: PasswordIn) -> dict[str, str]:
        await service.set_password(db, actor, actor.member_id, data.password)
        return {"status": "changed"}

    @post(
        "/password/sms",
        status_code=200,
        summary="Set a new password with the code texted to the caller's own phone; logs in again",
        description="Send the code with POST /api/v1/auth/sms-code to the caller's phone first. "
        "Afterwards nobody who issued a code or typed a password for the account knows it: an account "
        "opened with an office's code (held: true on /me) may approve, confirm, dispatch and award "
        "again. Ends other logins.",
        responses=errors_of(onboarding.secure_account),
    )
    async def secure(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        settings: Settings,
        data: SecureIn,
    ) -> Response[LoginOut]:
        token, member = await onboarding.secure_account(
            db,
            actor,
            data.code,
            data.password,
            settings.secret_key,
            client_address(request),
            device_of(request),
        )
        return _login_response(LoginOut(token=token, member=await me_out(db, member)), settings, 200)


class CommunityController(Controller):
    path = "/api/v1/communities"
    tags = ["accounts"]

    @post(
        "",
        summary="Create a community (platform admin)",
        responses=errors_of(service.create_community),
    )
    async def create(self, db: AsyncSession, actor: Actor, data: CommunityIn) -> CommunityOut:
        mode = data.self_registration or ("auto" if data.allow_registration else "off")
        return community_out(
            await service.create_community(db, actor, data.name, data.code, data.timezone, mode)
        )

    @patch(
        "/{cid:uuid}",
        summary="Change how residents sign themselves up (admin)",
        description="self_registration: off, auto or approval. A tighter mode applies at once; a looser one "
        "(off -> approval -> auto) answers 202 with a proposal another admin approves.",
        responses={**pending_specs(CommunityOut), **errors_of(onboarding.set_self_registration)},
    )
    async def update(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: CommunityPatch
    ) -> Response[CommunityOut]:
        result = await onboarding.set_self_registration(db, actor, cid, data.self_registration)
        return or_pending(result, community_out)

    @get(
        "/{cid:uuid}/registrations",
        summary="Sign-ups waiting for approval (admin)",
        responses=errors_of(onboarding.list_registrations),
    )
    async def registrations(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> list[RegistrationOut]:
        return [
            RegistrationOut(
                id=r.id,
                community_id=r.community_id,
                member_id=m.id,
                name=m.name,
                phone=m.phone,
                status=r.status,
                created_at=r.created_at,
            )
            for r, m in await onboarding.list_registrations(db, actor, cid)
        ]

    @post(
        "/{cid:uuid}/members/{mid:uuid}/activation",
        status_code=201,
        summary="Issue a new one-time code for a member (admin): a forgotten password or a lost card",
        description="Any older code of the member stops working. The member sets the password at "
        "/join/<code>. A person who also belongs to another community is member_elsewhere: a platform "
        "admin can.",
        responses=errors_of(onboarding.issue_activation),
    )
    async def issue_activation(
        self, db: AsyncSession, actor: Actor, settings: Settings, cid: uuid.UUID, mid: uuid.UUID
    ) -> IssuedActivationOut:
        row, code = await onboarding.issue_activation(db, actor, cid, mid, settings.secret_key)
        return IssuedActivationOut(
            member_id=mid, code=code, url=f"{settings.public_url}/join/{code}", expires_at=row.expires_at
        )

    @get("/{cid:uuid}", summary="A community's public details", responses=errors_of(service.get_community))
    async def show(self, db: AsyncSession, cid: uuid.UUID) -> CommunityOut:
        return community_out(await service.get_community(db, cid))

    @post(
        "/{cid:uuid}/members",
        summary="Add a member or give an existing phone a role (admin)",
        description="An existing phone gains the role; the reply echoes the phone and name as sent and "
        "never the person's data from elsewhere; their name and password are not changed. Granting "
        "admin or reviewer is a platform admin's act.",
        responses=errors_of(service.add_member),
    )
    async def add_member(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        settings: Settings,
        cid: uuid.UUID,
        data: MemberIn,
    ) -> MemberOut:
        member = await service.add_member(
            db,
            actor,
            cid,
            data.phone,
            data.name,
            data.password,
            data.role,
            data.partner_id,
            client_addr=client_address(request),
            secret_key=settings.secret_key,
        )
        roles = [role_out(r) for r in await service.roles_of(db, member.id) if r.community_id == cid]
        return MemberOut(id=member.id, phone=member.phone, name=" ".join(data.name.split()), roles=roles)

    @patch(
        "/{cid:uuid}/members/{mid:uuid}",
        summary="Correct a member's name or phone (admin of every community the person belongs to)",
        description="A person who also belongs to another community is member_elsewhere.",
        responses=errors_of(service.update_member),
    )
    async def update_member(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        cid: uuid.UUID,
        mid: uuid.UUID,
        data: MemberPatchIn,
    ) -> MemberOut:
        member = await service.update_member(
            db, actor, cid, mid, name=data.name, phone=data.phone, client_addr=client_address(request)
        )
        return await self._member_out(db, member, cid)

    @delete(
        "/{cid:uuid}/members/{mid:uuid}/roles/{role:str}",
        status_code=200,
        summary="Take a staff role away from a member (admin; admin and reviewer: platform admin)",
        description="The member role cannot be removed (invalid_role).",
        responses=errors_of(service.remove_role, service.get_member),
    )
    async def remove_role(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        cid: uuid.UUID,
        mid: uuid.UUID,
        role: Annotated[str, Parameter(max_length=16)],
    ) -> MemberOut:
        await service.remove_role(db, actor, cid, mid, role, client_addr=client_address(request))
        return await self._member_out(db, await service.get_member(db, mid), cid)

    @staticmethod
    async def _member_out(db: AsyncSession, member: Member, cid: uuid.UUID) -> MemberOut:
        roles = [role_out(r) for r in await service.roles_of(db, member.id) if r.community_id == cid]
        return MemberOut(id=member.id, phone=member.phone, name=member.name, roles=roles)

    @get(
        "/{cid:uuid}/members",
        summary="Members of a community (staff)",
        responses=errors_of(decode_cursor, InvalidCursor, service.list_members),
    )
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
            raise InvalidCursor() from exc
        rows, last = await service.list_members(db, actor, cid, limit, after_id, q)
        items = [
            MemberOut(
                id=m.id, phone=m.phone, name=m.name, roles=[RoleOut(community_id=cid, role=r) for r in roles]
            )
            for m, roles in rows
        ]
        return MemberPage(items=items, next_cursor=cursor_for(last))

    @post(
        "/{cid:uuid}/members/{mid:uuid}/password",
        status_code=200,
        summary="Set a member's password (platform admin); ends the member's logins",
        description="Community admins do not choose passwords: they issue a one-time code "
        "(POST .../activation) and the member sets their own.",
        responses=errors_of(service.set_password),
    )
    async def reset_password(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        cid: uuid.UUID,
        mid: uuid.UUID,
        data: PasswordIn,
    ) -> dict[str, str]:
        await service.set_password(
            db, actor, mid, data.password, community_id=cid, client_addr=client_address(request)
        )
        return {"status": "changed"}

    @post(
        "/{cid:uuid}/members/import",
        status_code=200,
        request_max_body_size=8 * 1_048_576,
        summary="Bulk-import members from CSV (phone,name[,role]) sent as the request body (admin)",
        description="Nothing is imported when a row is bad, unless skip_bad=true; every bad row is "
        "reported with its line number. Members without a password get an activation code (invited): "
        "print their invitation cards at /admin/invitations.",
        responses=errors_of(
            service.get_community,
            service.require_role,
            service.check_role_granter,
            ImportNotUtf8,
            ImportTooLarge,
            ImportRejected,
        ),
        opt=raw_body(
            "UTF-8 CSV, one member a line: phone,name[,role] (a header line is optional).", "text/csv"
        ),
    )
    async def import_members(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        settings: Settings,
        cid: uuid.UUID,
        skip_bad: bool = False,
    ) -> ImportOut:
        await service.get_community(db, cid)
        await service.require_role(db, actor, cid, "admin")
        try:
            text = (await request.body()).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ImportNotUtf8() from exc
        rows, problems = service.parse_import_csv(text)
        for role in sorted({r.role for r in rows}):
            service.check_role_granter(actor, role)
        if len(rows) > IMPORT_ROWS_MAX:
            raise ImportTooLarge(params={"max": IMPORT_ROWS_MAX})
        errors: list[dict[str, int | str]] = [
            {"line": p.line, "message": localise(request, p.template, p.params)} for p in problems
        ]
        if problems and not skip_bad:
            raise ImportRejected(
                errors=[
                    {
                        "field": f"line {e['line']}",
                        "message": localise(request, "Line %(line)s: %(message)s", dict(e)),
                    }
                    for e in errors
                ],
                params={"count": len(problems)},
            )
        report = await service.import_members(
            db,
            cid,
            rows,
            actor_id=actor.member_id,
            client_addr=client_address(request),
            secret_key=settings.secret_key,
            actor=actor,
        )
        return ImportOut(
            created=report.created, updated=report.updated, errors=errors, invited=report.invited
        )

    @post(
        "/{cid:uuid}/partners",
        summary="Add a partner shop or unit to the alliance (admin)",
        responses=errors_of(service.create_partner),
    )
    async def create_partner(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: PartnerIn
    ) -> PartnerOut:
        return partner_out(await service.create_partner(db, actor, cid, data.name, data.address))

    @get(
        "/{cid:uuid}/partners",
        summary="Partners of the community's alliance (its members)",
        responses=errors_of(service.get_community, service.require_role),
    )
    async def list_partners(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> list[PartnerOut]:
        await service.get_community(db, cid)
        await service.require_role(db, actor, cid, "member")
        return [partner_out(p) for p in await service.list_partners(db, cid)]


class RegistrationController(Controller):
    path = "/api/v1/registrations"
    tags = ["accounts"]

    @post(
        "/{rid:uuid}/approve",
        status_code=200,
        summary="Approve a sign-up: the resident joins the community (admin)",
        responses=errors_of(onboarding.decide_registration),
    )
    async def approve(self, db: AsyncSession, actor: Actor, rid: uuid.UUID) -> dict[str, str]:
        return {"status": (await onboarding.decide_registration(db, actor, rid, True)).status}

    @post(
        "/{rid:uuid}/reject",
        status_code=200,
        summary="Reject a sign-up (admin)",
        responses=errors_of(onboarding.decide_registration),
    )
    async def reject(self, db: AsyncSession, actor: Actor, rid: uuid.UUID) -> dict[str, str]:
        return {"status": (await onboarding.decide_registration(db, actor, rid, False)).status}
