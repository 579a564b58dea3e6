"""HTTP routes of activities and check-in: parse, call the service, return a Struct."""

from __future__ import annotations

import re
import uuid
from functools import partial
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, patch, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.service import Actor
from service.activities import rules
from service.activities import service as svc
from service.activities.models import Activity, Attendance
from service.activities.schemas import (
    ActivityIn,
    ActivityOut,
    ActivityPatch,
    AttendanceOut,
    AttendancePage,
    CardOut,
    CardScanIn,
    CheckinIn,
    CheckinOut,
    CloseIn,
    CloseOut,
    HoursOut,
    KioskOut,
    ManualIn,
    ManualOut,
    PolicyIn,
    PolicyOut,
    SignupOut,
    TeamIn,
    TeamMemberIn,
    TeamMemberOut,
    TeamOut,
)
from service.config import Settings
from service.errors import InvalidInput, NotAuthenticated
from service.http import Limit, client_address, decode_cursor, encode_cursor, idempotent, login_of
from service.kit import qr
from service.problems import localise

__all__ = ["DEVICE_COOKIE", "ROUTES", "SCAN_COOKIE", "device_of", "pending_scan_of"]

DEVICE_COOKIE = "jifen_device"
SCAN_COOKIE = "jifen_scan"
_DEVICE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
CHECKIN_ERRORS = (
    "Errors: qr_invalid, qr_expired, activity_not_open, not_signed_up, activity_full (409), outside_area, "
    "location_required, already_checked_out, manual_pending, confirmation_pending, forbidden, "
    "idempotency_conflict (409)."
)


def device_of(request: Request[Any, Any, Any]) -> str | None:
    value = request.cookies.get(DEVICE_COOKIE, "")
    return value if _DEVICE_RE.match(value) else None


def pending_scan_of(
    request: Request[Any, Any, Any], settings: Settings, token: str
) -> rules.PendingScan | None:
    """This browser's scan of ``token`` from before it logged in (a cookie), if it has one.

    A scan cookie for ``token`` that is forged, or was copied from another browser (it is bound to the
    device cookie), is refused ``qr_expired`` rather than ignored."""
    value = request.cookies.get(SCAN_COOKIE, "")
    if not value or not rules.scan_is_for(value, token):
        return None
    scan = rules.verify_scan(settings.secret_key, value, token, device_of(request))
    if scan is None:
        raise svc.CheckinError("qr_expired", "This scan was made on another phone: scan the code again.")
    return scan


async def activity_out(db: AsyncSession, a: Activity) -> ActivityOut:
    return ActivityOut(
        a.id, a.community_id, a.title, a.description, a.category, a.team_id, a.starts_at, a.ends_at,
        a.address, a.lat, a.lng, a.radius_m, a.capacity, a.signup_required, a.points_mode, a.points,
        a.points_max, a.status, await svc.checked_in_count(db, a.id), await svc.signup_count(db, a.id),
    )  # fmt: skip


def checkin_out(r: svc.CheckinResult) -> CheckinOut:
    a = r.attendance
    return CheckinOut(
        r.status, r.activity.id, r.activity.title, a.member_id, a.evidence, a.checked_in_at,
        a.checked_out_at, a.minutes if a.status == "out" else None, r.points_awarded, r.repeated,
        r.points_pending, r.points_status,
    )  # fmt: skip


def attendance_out(r: svc.AttendanceRow) -> AttendanceOut:
    a: Attendance = r.attendance
    return AttendanceOut(
        a.id, a.member_id, r.member_name, a.status, a.evidence, a.checked_in_at, a.checked_out_at,
        a.minutes, a.points, a.evidence == "manual", r.flags, a.note,
    )  # fmt: skip


Box = Annotated[
    int, Parameter(ge=qr.BOX_MIN, le=qr.BOX_MAX, default=qr.BOX_DEFAULT, description="pixels per module")
]
QrMode = Annotated[Literal["rotating", "poster"], Parameter(default="rotating")]


class ActivityController(Controller):
    path = "/api/v1"
    tags = ["activities"]

    @post(
        "/communities/{cid:uuid}/activities",
        status_code=201,
        summary="Create an activity (organizer)",
        description="Errors: invalid_activity (422, with the field), forbidden, community_not_found.",
    )
    async def create(self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: ActivityIn) -> ActivityOut:
        draft = svc.ActivityDraft(**{f: getattr(data, f) for f in data.__struct_fields__})
        return await activity_out(db, await svc.create_activity(db, actor, cid, draft))

    @get("/communities/{cid:uuid}/activities", summary="Upcoming (or recent) activities of a community")
    async def list_activities(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, upcoming: bool = True
    ) -> list[ActivityOut]:
        return [
            await activity_out(db, a) for a in await svc.list_activities(db, actor, cid, upcoming=upcoming)
        ]

    @get("/activities/{aid:uuid}", summary="An activity with its live checked_in_count")
    async def show(self, db: AsyncSession, actor: Actor, aid: uuid.UUID) -> ActivityOut:
        return await activity_out(db, await svc.get_activity(db, actor, aid))

    @patch(
        "/activities/{aid:uuid}",
        summary="Edit an open activity (organizer)",
        description="Errors: invalid_activity (422), activity_not_open (409), forbidden.",
    )
    async def edit(self, db: AsyncSession, actor: Actor, aid: uuid.UUID, data: ActivityPatch) -> ActivityOut:
        changes = {
            f: getattr(data, f) for f in data.__struct_fields__ if getattr(data, f) is not msgspec.UNSET
        }
        return await activity_out(db, await svc.update_activity(db, actor, aid, changes))

    @post(
        "/activities/{aid:uuid}/cancel",
        status_code=200,
        summary="Cancel an activity nobody has checked into (organizer)",
        description="Errors: activity_not_open (409), activity_has_attendance (409), forbidden.",
    )
    async def cancel(self, db: AsyncSession, actor: Actor, aid: uuid.UUID) -> ActivityOut:
        return await activity_out(db, await svc.cancel_activity(db, actor, aid))

    @post(
        "/activities/{aid:uuid}/signups",
        status_code=201,
        summary="Sign up for an activity (repeating it changes nothing)",
        description="Errors: activity_not_open, activity_full (409), forbidden.",
    )
    async def signup(self, db: AsyncSession, actor: Actor, aid: uuid.UUID) -> SignupOut:
        row = await svc.signup(db, actor, aid)
        return SignupOut(row.activity_id, row.member_id)

    @get(
        "/activities/{aid:uuid}/kiosk",
        summary="The current rotating check-in code for the kiosk screen (organizer)",
        description=f"A new code every {rules.KIOSK_STEP_SECONDS} s; the previous one is still accepted, "
        "older ones are qr_expired. Errors: forbidden, activity_not_found.",
    )
    async def kiosk(
        self, db: AsyncSession, actor: Actor, settings: Settings, aid: uuid.UUID
    ) -> Response[KioskOut]:
        code = await svc.kiosk_code(db, actor, aid, settings.public_url)
        body = KioskOut(
            code.url, code.token, code.expires_at, code.refresh_after_s, await svc.checked_in_count(db, aid)
        )
        return Response(body, headers={"Cache-Control": "no-store"})

    async def _qr_url(
        self, db: AsyncSession, actor: Actor, settings: Settings, aid: uuid.UUID, mode: str
    ) -> str:
        if mode == "poster":
            return await svc.poster_code(db, actor, aid, settings.public_url)
        return (await svc.kiosk_code(db, actor, aid, settings.public_url)).url

    @get(
        "/activities/{aid:uuid}/qr.png",
        media_type="image/png",
        summary="PNG of the rotating (or poster) check-in QR code (organizer)",
        description="mode=rotating (default) or poster; box=2-20 pixels per module. Errors: forbidden.",
    )
    async def qr_png(
        self, db: AsyncSession, actor: Actor, settings: Settings, aid: uuid.UUID, mode: QrMode, box: Box
    ) -> Response[bytes]:
        url = await self._qr_url(db, actor, settings, aid, mode)
        return Response(qr.png(url, box), media_type="image/png", headers={"Cache-Control": "no-store"})

    @get(
        "/activities/{aid:uuid}/qr.svg",
        media_type="image/svg+xml",
        summary="SVG of the rotating (or poster) check-in QR code (organizer)",
        description="mode=rotating (default) or poster. Errors: forbidden.",
    )
    async def qr_svg(
        self, db: AsyncSession, actor: Actor, settings: Settings, aid: uuid.UUID, mode: QrMode, box: Box
    ) -> Response[bytes]:
        url = await self._qr_url(db, actor, settings, aid, mode)
        return Response(qr.svg(url, box), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    @post(
        "/activities/{aid:uuid}/poster/revoke",
        status_code=200,
        summary="Withdraw every printed poster of the activity (organizer); print a new one",
    )
    async def revoke_poster(self, db: AsyncSession, actor: Actor, aid: uuid.UUID) -> dict[str, int]:
        return {"poster_version": (await svc.revoke_poster(db, actor, aid)).poster_version}

    @post(
        "/checkins",
        status_code=200,
        summary="Check in or out with the token of a scanned QR code",
        description="The first scan checks in (no points yet: points_awarded is 0, points_pending says "
        f"what will post); a scan at least {rules.MIN_STAY_SECONDS // 60} min later checks out and posts "
        "the points (or the organizer's close does); earlier repeats report the status. An organizer's "
        "own attendance posts only once another organizer confirms it (points_status "
        "awaiting_confirmation). A scan cookie from before logging in is single-use and bound to the "
        "browser (qr_expired otherwise). " + CHECKIN_ERRORS,
        responses={200: ResponseSpec(data_container=CheckinOut, description="checked in or out")},
    )
    async def checkin(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        settings: Settings,
        data: CheckinIn,
    ) -> Response[bytes]:
        # The hot path of a clean-up day: the token is verified in memory and its revocation is
        # checked in the query that reads the activity and the caller's roles (no actor dependency).
        login = login_of(request)

        async def work() -> tuple[int, CheckinOut]:
            try:
                _actor, r = await svc.check_in_with_login(
                    db,
                    login.member_id,
                    login.version,
                    data.token,
                    lat=data.lat,
                    lng=data.lng,
                    device_id=device_of(request),
                    pending_scan=pending_scan_of(request, settings, data.token),
                )
            except NotAuthenticated as exc:
                raise login.refused(exc) from exc
            return 200, checkin_out(r)

        response = await idempotent(request, db, Actor(login.member_id, "", ""), work)
        if response.status_code == 200 and request.cookies.get(SCAN_COOKIE):
            response.delete_cookie(SCAN_COOKIE, path="/")
        return response

    @post(
        "/activities/{aid:uuid}/card-scans",
        status_code=200,
        summary="An organizer scanned a member card: check that member in or out",
        description="Errors: card_invalid (404), " + CHECKIN_ERRORS,
    )
    async def card_scan(self, db: AsyncSession, actor: Actor, aid: uuid.UUID, data: CardScanIn) -> CheckinOut:
        return checkin_out(await svc.scan_card(db, actor, aid, data.card_token))

    @post(
        "/activities/{aid:uuid}/close",
        status_code=200,
        summary="Close the activity: check out everyone still in and post their points (organizer)",
        description="An optional body {absent_member_ids: [...]} marks people still checked in who left "
        "early as absent: they get no points. Errors: activity_not_open (409), not_checked_in (422), "
        "forbidden.",
        responses={200: ResponseSpec(data_container=CloseOut, description="closed")},
    )
    async def close(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        aid: uuid.UUID,
        data: CloseIn | None = None,
    ) -> Response[bytes]:
        absent = data.absent_member_ids if data is not None else []

        async def work() -> tuple[int, CloseOut]:
            r = await svc.close_activity(db, actor, aid, absent)
            return 200, CloseOut(r.checked_out, r.points_posted, "closed", r.absent, r.awaiting_confirmation)

        return await idempotent(request, db, actor, work)

    @post(
        "/activities/{aid:uuid}/approve",
        status_code=200,
        summary="Open an activity worth more than the community's points cap (an admin, not its creator)",
        description="Errors: same_admin (403), activity_not_pending (409), forbidden.",
    )
    async def approve_activity(self, db: AsyncSession, actor: Actor, aid: uuid.UUID) -> ActivityOut:
        return await activity_out(db, await svc.approve_activity(db, actor, aid))

    @get(
        "/communities/{cid:uuid}/activity-policy",
        summary="The community's activity points cap (members)",
    )
    async def policy(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> PolicyOut:
        await svc.accounts.require_role(db, actor, cid, "member")
        return PolicyOut(cid, await svc.points_cap(db, cid))

    @put(
        "/communities/{cid:uuid}/activity-policy",
        summary="Set the points per attendance (or per hour) above which activities need approval (admin)",
        description="Errors: invalid_policy (422), forbidden.",
    )
    async def set_policy(self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: PolicyIn) -> PolicyOut:
        return PolicyOut(cid, await svc.set_points_cap(db, actor, cid, data.points_cap))

    @get(
        "/activities/{aid:uuid}/attendance",
        summary="Attendance list with minutes, points, manual and fraud flags (organizer)",
        description="format=csv gives a spreadsheet (UTF-8 with BOM, headers in the reader's language, "
        "times in the community's time zone, formula-like cells neutralised). "
        "Flags: shared_device, manual, weak_evidence (poster), self_attendance.",
        responses={200: ResponseSpec(data_container=AttendancePage, description="attendance")},
    )
    async def attendance(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        aid: uuid.UUID,
        limit: Limit,
        cursor: Annotated[str | None, Parameter(max_length=200)] = None,
        format: Literal["json", "csv"] = "json",
    ) -> Response[Any]:
        if format == "csv":
            rows = await svc.attendance_list(db, actor, aid)
            activity = await svc.get_activity(db, actor, aid)
            tz = (await svc.accounts.get_community(db, activity.community_id)).timezone
            return Response(
                svc.attendance_csv(rows, tz, partial(localise, request)),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="attendance-{aid}.csv"'},
            )
        after = decode_cursor(cursor)
        try:
            after_id = uuid.UUID(after) if after else None
        except ValueError as exc:
            raise InvalidInput("invalid_cursor", "The cursor is not one this API gave out.") from exc
        rows = await svc.attendance_list(db, actor, aid, limit=limit + 1, after=after_id)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(str(rows[-1].attendance.id)) if more else None
        return Response(AttendancePage([attendance_out(r) for r in rows], next_cursor))

    @post(
        "/activities/{aid:uuid}/manual-checkins",
        status_code=202,
        summary="Record an attendance by hand; waits for a second organizer (organizer)",
        description="Errors: invalid_times (422), invalid_note (422), already_attended (409), "
        "member_not_found.",
    )
    async def manual(self, db: AsyncSession, actor: Actor, aid: uuid.UUID, data: ManualIn) -> ManualOut:
        att = await svc.request_manual(
            db, actor, aid, data.member_id, data.checked_in_at, data.checked_out_at, data.note
        )
        return ManualOut(att.id, "pending_approval")

    @post(
        "/attendance/{att_id:uuid}/approve",
        status_code=200,
        summary="Approve a manual record or confirm an organizer's own attendance (another organizer)",
        description="Neither the organizer who entered it nor the member it is for may approve. Errors: "
        "second_organizer_required (403), approver_conflict (403), manual_not_pending (409), forbidden.",
    )
    async def approve(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, att_id: uuid.UUID
    ) -> ManualOut:
        att = await svc.approve_manual(db, actor, att_id, client_addr=client_address(request))
        return ManualOut(att.id, "approved", att.points)

    @post(
        "/attendance/{att_id:uuid}/reject",
        status_code=200,
        summary="Reject a manual record (an organizer other than the one who entered it)",
        description="Errors: second_organizer_required (403), approver_conflict (403), "
        "manual_not_pending (409), forbidden.",
    )
    async def reject(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, att_id: uuid.UUID
    ) -> ManualOut:
        att = await svc.reject_manual(db, actor, att_id, client_addr=client_address(request))
        return ManualOut(att.id, "rejected")


class CardController(Controller):
    path = "/api/v1/me"
    tags = ["activities"]

    @get("/card", summary="The caller's member card (a QR for people without smartphones)")
    async def card(
        self, db: AsyncSession, actor: Actor, settings: Settings, community_id: uuid.UUID
    ) -> CardOut:
        card = await svc.member_card(db, actor, community_id)
        return CardOut(community_id, card.token, f"{settings.public_url}/m/{card.token}")

    @post(
        "/card/revoke", status_code=200, summary="Replace the caller's card; the old printout stops working"
    )
    async def revoke(
        self, db: AsyncSession, actor: Actor, settings: Settings, community_id: uuid.UUID
    ) -> CardOut:
        card = await svc.revoke_card(db, actor, community_id)
        return CardOut(community_id, card.token, f"{settings.public_url}/m/{card.token}")

    @get("/hours", summary="The caller's service hours (志愿服务时长) in a community, optionally one year")
    async def hours(
        self,
        db: AsyncSession,
        actor: Actor,
        community_id: uuid.UUID,
        year: Annotated[int | None, Parameter(ge=2000, le=2100)] = None,
    ) -> HoursOut:
        await svc.accounts.require_role(db, actor, community_id, "member")
        h = await svc.hours_of(db, actor.member_id, community_id, year)
        return HoursOut(
            community_id, year, h.minutes, round(h.minutes / 60, 2), h.attendances, h.points, h.manual_minutes
        )


class TeamController(Controller):
    path = "/api/v1"
    tags = ["activities"]

    @post(
        "/communities/{cid:uuid}/teams",
        status_code=201,
        summary="Create a volunteer service team (志愿服务队) with its leader (organizer)",
        description="Errors: invalid_name (422), team_name_taken (409), member_not_found, forbidden.",
    )
    async def create(self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: TeamIn) -> TeamOut:
        team = await svc.create_team(db, actor, cid, data.name, data.leader_id)
        return next(t for t in await self._teams(db, actor, cid) if t.id == team.id)

    @get("/communities/{cid:uuid}/teams", summary="Teams with their members and total service minutes")
    async def list_teams(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> list[TeamOut]:
        return await self._teams(db, actor, cid)

    @post(
        "/teams/{tid:uuid}/members",
        status_code=201,
        summary="Add a member to a team (organizer)",
        description="Errors: team_not_found, member_not_found, forbidden.",
    )
    async def add(self, db: AsyncSession, actor: Actor, tid: uuid.UUID, data: TeamMemberIn) -> dict[str, str]:
        await svc.add_team_member(db, actor, tid, data.member_id)
        return {"status": "added"}

    async def _teams(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> list[TeamOut]:
        return [
            TeamOut(
                t.team.id,
                t.team.name,
                t.team.leader_id,
                t.leader_name,
                [TeamMemberOut(m, n, minutes) for m, n, minutes in t.members],
                t.minutes,
            )
            for t in await svc.teams_with_totals(db, actor, cid)
        ]


ROUTES: list[Any] = [ActivityController, CardController, TeamController]
