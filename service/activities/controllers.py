"""HTTP routes of activities and check-in: parse, call the service, return a Struct."""

from __future__ import annotations

import uuid
from datetime import timedelta
from functools import partial
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.activities import codes, corrections, offline, rules, views
from service.activities import service as svc
from service.activities.errors import InvalidActivity
from service.activities.http import SCAN_COOKIE, device_of, pending_scan_of
from service.activities.schemas import (
    ActivityIn,
    ActivityOut,
    ActivityPatch,
    AttendancePage,
    CardOut,
    CardScanIn,
    CheckinIn,
    CheckinOut,
    CloseIn,
    CloseOut,
    CorrectionIn,
    CorrectionOut,
    DecisionIn,
    Evidence,
    HoursOut,
    KioskOut,
    KitActivity,
    KitKey,
    KitLimits,
    KitMember,
    KitRevoked,
    ManualIn,
    ManualOut,
    Mode,
    OfflineKitOut,
    OfflineScanOut,
    PendingScanOut,
    PersonalCodeOut,
    PolicyIn,
    PolicyOut,
    ResolveIn,
    ScannerIn,
    ScannerOut,
    SignupOut,
    SyncIn,
    SyncOut,
    SyncResultOut,
    TeamIn,
    TeamMemberIn,
    TeamOut,
)
from service.config import Settings
from service.errors import NotAuthenticated
from service.http import Limit, client_address, errors_of, idempotent, login_of, or_pending, pending_specs
from service.kit import qr, signing
from service.problems import localise

__all__ = ["ROUTES"]


def checkin_out(r: svc.CheckinResult) -> CheckinOut:
    a = r.attendance
    return CheckinOut(
        status=r.status,
        activity_id=r.activity.id,
        activity_title=r.activity.title,
        member_id=a.member_id,
        evidence=msgspec.convert(a.evidence, Evidence),
        checked_in_at=a.checked_in_at,
        checked_out_at=a.checked_out_at,
        minutes=a.minutes if a.status == "out" else None,
        points_awarded=r.points_awarded,
        repeated=r.repeated,
        points_pending=r.points_pending,
        points_status=r.points_status,
        attendance_id=a.id,
    )


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
        responses=errors_of(svc.create_activity, views.activity),
    )
    async def create(self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: ActivityIn) -> ActivityOut:
        draft = msgspec.convert(data, svc.ActivityDraft, from_attributes=True)
        return await views.activity(db, actor, (await svc.create_activity(db, actor, cid, draft)).id)

    @get(
        "/communities/{cid:uuid}/activities",
        summary="Upcoming (or recent) activities of a community",
        responses=errors_of(views.list_activities),
    )
    async def list_activities(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, upcoming: bool = True
    ) -> list[ActivityOut]:
        return await views.list_activities(db, actor, cid, upcoming=upcoming)

    @get(
        "/activities/{aid:uuid}",
        summary="An activity with its live checked_in_count",
        responses=errors_of(views.activity),
    )
    async def show(self, db: AsyncSession, actor: Actor, aid: uuid.UUID) -> ActivityOut:
        return await views.activity(db, actor, aid)

    @patch(
        "/activities/{aid:uuid}",
        summary="Edit an open activity (organizer)",
        responses=errors_of(svc.update_activity, InvalidActivity, views.activity),
    )
    async def edit(self, db: AsyncSession, actor: Actor, aid: uuid.UUID, data: ActivityPatch) -> ActivityOut:
        changes = {
            f: getattr(data, f) for f in data.__struct_fields__ if getattr(data, f) is not msgspec.UNSET
        }
        await svc.update_activity(db, actor, aid, changes)
        return await views.activity(db, actor, aid)

    @post(
        "/activities/{aid:uuid}/cancel",
        status_code=200,
        summary="Cancel an activity nobody has checked into (organizer)",
        responses=errors_of(svc.cancel_activity, views.activity),
    )
    async def cancel(self, db: AsyncSession, actor: Actor, aid: uuid.UUID) -> ActivityOut:
        await svc.cancel_activity(db, actor, aid)
        return await views.activity(db, actor, aid)

    @post(
        "/activities/{aid:uuid}/signups",
        status_code=201,
        summary="Sign up for an activity (repeating it changes nothing)",
        responses=errors_of(svc.signup),
    )
    async def signup(self, db: AsyncSession, actor: Actor, aid: uuid.UUID) -> SignupOut:
        row = await svc.signup(db, actor, aid)
        return SignupOut(activity_id=row.activity_id, member_id=row.member_id)

    @get(
        "/activities/{aid:uuid}/kiosk",
        summary="The current rotating check-in code for the kiosk screen (organizer)",
        description=f"A new code every {rules.KIOSK_STEP_SECONDS} s; the previous one is still accepted, "
        "older ones are qr_expired.",
        responses=errors_of(svc.kiosk_code),
    )
    async def kiosk(
        self, db: AsyncSession, actor: Actor, settings: Settings, aid: uuid.UUID
    ) -> Response[KioskOut]:
        code = await svc.kiosk_code(db, actor, aid, settings.public_url)
        body = KioskOut(
            url=code.url,
            token=code.token,
            expires_at=code.expires_at,
            refresh_after_s=code.refresh_after_s,
            checked_in_count=await views.checked_in_count(db, aid),
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
        description="mode=rotating (default) or poster; box=2-20 pixels per module.",
        responses=errors_of(svc.kiosk_code, svc.poster_code),
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
        description="mode=rotating (default) or poster.",
        responses=errors_of(svc.kiosk_code, svc.poster_code),
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
        responses=errors_of(svc.revoke_poster),
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
        "browser (qr_expired otherwise).",
        responses={
            200: ResponseSpec(data_container=CheckinOut, description="checked in or out"),
            **errors_of(idempotent, svc.check_in_with_login, pending_scan_of, login_of, idempotent),
        },
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
        responses=errors_of(svc.scan_card),
    )
    async def card_scan(self, db: AsyncSession, actor: Actor, aid: uuid.UUID, data: CardScanIn) -> CheckinOut:
        return checkin_out(await svc.scan_card(db, actor, aid, data.card_token))

    @post(
        "/activities/{aid:uuid}/close",
        status_code=200,
        summary="Close the activity: check out everyone still in and post their points (organizer)",
        description="An optional body {absent_member_ids: [...]} marks people still checked in who left "
        "early as absent: they get no points.",
        responses={
            200: ResponseSpec(data_container=CloseOut, description="closed"),
            **errors_of(idempotent, svc.close_activity, idempotent),
        },
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
            return 200, CloseOut(
                checked_out=r.checked_out,
                points_posted=r.points_posted,
                absent=r.absent,
                awaiting_confirmation=r.awaiting_confirmation,
                over_budget=r.over_budget,
            )

        return await idempotent(request, db, actor, work)

    @post(
        "/activities/{aid:uuid}/approve",
        status_code=200,
        summary="Open an activity worth more than the community's points cap (an admin, not its creator)",
        responses=errors_of(svc.approve_activity, views.activity),
    )
    async def approve_activity(self, db: AsyncSession, actor: Actor, aid: uuid.UUID) -> ActivityOut:
        await svc.approve_activity(db, actor, aid)
        return await views.activity(db, actor, aid)

    @get(
        "/communities/{cid:uuid}/activity-policy",
        summary="The community's activity points cap (members)",
        responses=errors_of(views.policy),
    )
    async def policy(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> PolicyOut:
        return await views.policy(db, actor, cid)

    @put(
        "/communities/{cid:uuid}/activity-policy",
        summary="Set the points per attendance (or per hour) above which activities need approval (admin)",
        description="A lower cap applies at once; a higher one answers 202 with a proposal that another "
        "admin (or an official of a region above, or a platform admin) approves at /api/v1/proposals.",
        responses={**pending_specs(PolicyOut), **errors_of(svc.set_points_cap)},
    )
    async def set_policy(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: PolicyIn
    ) -> Response[PolicyOut]:
        result = await svc.set_points_cap(db, actor, cid, data.points_cap)
        return or_pending(result, lambda cap: PolicyOut(community_id=cid, points_cap=cap))

    @get(
        "/activities/{aid:uuid}/attendance",
        summary="Attendance list with minutes, points, manual and fraud flags (organizer)",
        description="format=csv gives a spreadsheet (UTF-8 with BOM, headers in the reader's language, "
        "times in the community's time zone, formula-like cells neutralised). "
        "Flags: shared_device, manual, weak_evidence (poster), self_attendance.",
        responses={
            200: ResponseSpec(data_container=AttendancePage, description="attendance"),
            **errors_of(views.attendance_page, views.attendance_export),
        },
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
            return Response(
                await views.attendance_export(db, actor, aid, partial(localise, request)),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="attendance-{aid}.csv"'},
            )
        return Response(await views.attendance_page(db, actor, aid, limit, cursor))

    @post(
        "/activities/{aid:uuid}/manual-checkins",
        status_code=202,
        summary="Record an attendance by hand; waits for a second organizer (organizer)",
        responses=errors_of(svc.request_manual),
    )
    async def manual(self, db: AsyncSession, actor: Actor, aid: uuid.UUID, data: ManualIn) -> ManualOut:
        att = await svc.request_manual(
            db, actor, aid, data.member_id, data.checked_in_at, data.checked_out_at, data.note
        )
        return ManualOut(id=att.id, status="pending_approval")

    @post(
        "/attendance/{att_id:uuid}/approve",
        status_code=200,
        summary="Approve a manual record or confirm an organizer's own attendance (another organizer)",
        description="Neither the organizer who entered it nor the member it is for may approve.",
        responses=errors_of(svc.approve_manual),
    )
    async def approve(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, att_id: uuid.UUID
    ) -> ManualOut:
        att = await svc.approve_manual(db, actor, att_id, client_addr=client_address(request))
        return ManualOut(id=att.id, status="approved", points=att.points)

    @post(
        "/attendance/{att_id:uuid}/reject",
        status_code=200,
        summary="Reject a manual record (an organizer other than the one who entered it)",
        responses=errors_of(svc.reject_manual),
    )
    async def reject(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, att_id: uuid.UUID
    ) -> ManualOut:
        att = await svc.reject_manual(db, actor, att_id, client_addr=client_address(request))
        return ManualOut(id=att.id, status="rejected")


class CardController(Controller):
    path = "/api/v1/me"
    tags = ["activities"]

    @get(
        "/card",
        summary="The caller's member card (a QR for people without smartphones)",
        responses=errors_of(svc.member_card),
    )
    async def card(
        self, db: AsyncSession, actor: Actor, settings: Settings, community_id: uuid.UUID
    ) -> CardOut:
        card = await svc.member_card(db, actor, community_id)
        return await _card_out(db, settings, card)

    @post(
        "/card/revoke",
        status_code=200,
        summary="Replace the caller's card; the old printout stops working",
        responses=errors_of(svc.revoke_card),
    )
    async def revoke(
        self, db: AsyncSession, actor: Actor, settings: Settings, community_id: uuid.UUID
    ) -> CardOut:
        card = await svc.revoke_card(db, actor, community_id)
        return await _card_out(db, settings, card)

    @get(
        "/code",
        summary="The caller's signed personal code (shown as a QR at /me/code; offline scanners verify it)",
    )
    async def personal_code(self, db: AsyncSession, actor: Actor, settings: Settings) -> PersonalCodeOut:
        code, version = await codes.personal_code(db, settings.signing_key, actor.member_id)
        key_id = (await codes.signer(db, settings.signing_key)).key_id
        return PersonalCodeOut(code=code, member_id=actor.member_id, version=version, key_id=key_id)

    @post(
        "/code/revoke",
        status_code=200,
        summary="Replace the caller's personal code; the old one (a lost phone, a shared screenshot) stops "
        "working and goes on the revocation list",
    )
    async def revoke_code(self, db: AsyncSession, actor: Actor, settings: Settings) -> PersonalCodeOut:
        await codes.reissue_personal_code(db, actor.member_id)
        code, version = await codes.personal_code(db, settings.signing_key, actor.member_id)
        key_id = (await codes.signer(db, settings.signing_key)).key_id
        return PersonalCodeOut(code=code, member_id=actor.member_id, version=version, key_id=key_id)

    @get(
        "/hours",
        summary="The caller's service hours (志愿服务时长) in a community, optionally one year",
        responses=errors_of(views.hours_out),
    )
    async def hours(
        self,
        db: AsyncSession,
        actor: Actor,
        community_id: uuid.UUID,
        year: Annotated[int | None, Parameter(ge=2000, le=2100)] = None,
    ) -> HoursOut:
        return await views.hours_out(db, actor, community_id, year)


class TeamController(Controller):
    path = "/api/v1"
    tags = ["activities"]

    @post(
        "/communities/{cid:uuid}/teams",
        status_code=201,
        summary="Create a volunteer service team (志愿服务队) with its leader (organizer)",
        responses=errors_of(svc.create_team, views.team_outs),
    )
    async def create(self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: TeamIn) -> TeamOut:
        team = await svc.create_team(db, actor, cid, data.name, data.leader_id)
        return next(t for t in await views.team_outs(db, actor, cid) if t.id == team.id)

    @get(
        "/communities/{cid:uuid}/teams",
        summary="Teams with their members and total service minutes",
        responses=errors_of(views.team_outs),
    )
    async def list_teams(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> list[TeamOut]:
        return await views.team_outs(db, actor, cid)

    @post(
        "/teams/{tid:uuid}/members",
        status_code=201,
        summary="Add a member to a team (organizer)",
        responses=errors_of(svc.add_team_member),
    )
    async def add(self, db: AsyncSession, actor: Actor, tid: uuid.UUID, data: TeamMemberIn) -> dict[str, str]:
        await svc.add_team_member(db, actor, tid, data.member_id)
        return {"status": "added"}


def _correction_out(c: Any, activity: Any) -> CorrectionOut:
    return CorrectionOut(
        id=c.id,
        attendance_id=c.attendance_id,
        activity_id=activity.id,
        activity_title=activity.title,
        member_id=c.member_id,
        status=c.status,
        reason=c.reason,
        checked_in_at=c.checked_in_at,
        checked_out_at=c.checked_out_at,
        old_checked_in_at=c.old_checked_in_at,
        old_checked_out_at=c.old_checked_out_at,
        old_minutes=c.old_minutes,
        old_points=c.old_points,
        new_minutes=c.new_minutes,
        new_points=c.new_points,
        decision_note=c.decision_note,
        decided_at=c.decided_at,
        created_at=c.created_at,
    )


class CorrectionController(Controller):
    path = "/api/v1"
    tags = ["activities"]

    @post(
        "/attendance/{att_id:uuid}/corrections",
        status_code=201,
        summary="Ask to correct one's own attendance record (wrong times, a missed check-out)",
        description="The volunteer whose record it is asks, with a reason; an organizer of the community "
        "other than them decides. Nothing changes until then; one open request per record.",
        responses=errors_of(corrections.request, svc.activity_of_attendance),
    )
    async def request_correction(
        self, db: AsyncSession, actor: Actor, att_id: uuid.UUID, data: CorrectionIn
    ) -> CorrectionOut:
        row = await corrections.request(
            db, actor, att_id, data.checked_in_at, data.checked_out_at, data.reason
        )
        activity = await svc.activity_of_attendance(db, row.attendance_id)
        return _correction_out(row, activity)

    @get(
        "/communities/{cid:uuid}/corrections",
        summary="Correction requests of the community (organizers), oldest first",
        description="status: pending, approved or rejected; all when left out.",
        responses=errors_of(corrections.correction_requests),
    )
    async def list_corrections(
        self,
        db: AsyncSession,
        actor: Actor,
        cid: uuid.UUID,
        limit: Limit,
        status: Literal["pending", "approved", "rejected"] | None = None,
    ) -> list[CorrectionOut]:
        rows = await corrections.correction_requests(db, actor, cid, status, limit)
        return [_correction_out(c, act) for c, _att, act in rows]

    @get("/me/corrections", summary="The caller's own correction requests, newest first")
    async def mine(self, db: AsyncSession, actor: Actor, limit: Limit) -> list[CorrectionOut]:
        return [_correction_out(c, act) for c, act in await corrections.my_corrections(db, actor, limit)]

    @post(
        "/corrections/{correction_id:uuid}/approve",
        status_code=200,
        summary="Approve a correction: the record takes the corrected times, the points follow",
        description="An organizer other than the volunteer (not of their household, not holding their "
        "account). More points are issued (within the month's budget); fewer are taken back, never "
        "below zero (the rest is owed).",
        responses=errors_of(corrections.approve, svc.activity_of_attendance),
    )
    async def approve_correction(
        self, db: AsyncSession, actor: Actor, correction_id: uuid.UUID, data: DecisionIn | None = None
    ) -> CorrectionOut:
        done = await corrections.approve(db, actor, correction_id, data.note if data else "")
        activity = await svc.activity_of_attendance(db, done.attendance.id)
        return _correction_out(done.correction, activity)

    @post(
        "/corrections/{correction_id:uuid}/reject",
        status_code=200,
        summary="Turn a correction request down, saying why; nothing changes",
        responses=errors_of(corrections.reject, svc.activity_of_attendance),
    )
    async def reject_correction(
        self, db: AsyncSession, actor: Actor, correction_id: uuid.UUID, data: DecisionIn
    ) -> CorrectionOut:
        row = await corrections.reject(db, actor, correction_id, data.note)
        activity = await svc.activity_of_attendance(db, row.attendance_id)
        return _correction_out(row, activity)


async def _card_out(db: AsyncSession, settings: Settings, card: Any) -> CardOut:
    code = await codes.card_code(db, settings.signing_key, card)
    return CardOut(
        community_id=card.community_id,
        token=card.token,
        url=f"{settings.public_url}/m/{code}",
        code=code,
        version=card.version,
    )


def _kit_out(kit: offline.OfflineKit) -> OfflineKitOut:
    a = kit.activity
    return OfflineKitOut(
        format=signing.FORMAT,
        server_time=kit.server_time,
        activity=KitActivity(
            id=a.id,
            community_id=a.community_id,
            title=a.title,
            status=a.status,
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            checkin_opens_at=a.starts_at - timedelta(seconds=rules.CHECKIN_EARLY_SECONDS),
            scans_until=a.ends_at + timedelta(seconds=rules.POSTER_GRACE_SECONDS),
            points_mode=msgspec.convert(a.points_mode, Mode),
            points=a.points,
            points_max=a.points_max,
            min_stay_seconds=rules.MIN_STAY_SECONDS,
            signup_required=a.signup_required,
            capacity=a.capacity,
        ),
        keys=[KitKey(key_id=k, public_key=signing.b64(raw)) for k, raw in sorted(kit.keys.items())],
        roster=[
            KitMember(
                member_id=m.member_id, name=m.name, card_version=m.card_version, code_version=m.code_version
            )
            for m in kit.roster
        ],
        roster_truncated=kit.roster_truncated,
        revoked=[
            KitRevoked(kind=r.kind, community_id=r.community_id, member_id=r.member_id, version=r.version)
            for r in kit.revoked
        ],
        limits=KitLimits(
            clock_drift_max_seconds=offline.CLOCK_DRIFT_MAX_SECONDS, sync_batch_max=offline.SYNC_BATCH_MAX
        ),
    )


class OfflineController(Controller):
    path = "/api/v1"
    tags = ["activities"]

    @get(
        "/activities/{aid:uuid}/offline-kit",
        summary="What an offline scanner needs: the activity, its roster with card versions, the public "
        "keys and the revocation list (organizer, or a clerk named to scan at it)",
        responses=errors_of(offline.offline_kit),
    )
    async def offline_kit(
        self, db: AsyncSession, actor: Actor, settings: Settings, aid: uuid.UUID
    ) -> OfflineKitOut:
        return _kit_out(await offline.offline_kit(db, actor, aid, settings.signing_key))

    @post(
        "/scans/sync",
        status_code=200,
        summary="Upload scans made offline: each applied once by its nonce (organizer of each activity, or "
        "a clerk named to scan at it)",
        description="Answers per scan: applied, duplicate (the nonce was uploaded before: nothing "
        "changes) or refused with a code (code_invalid, card_revoked, not_a_member, outside_window, "
        "clock_drift, scan_conflict, or a check-in refusal). See docs/offline.md.",
        responses=errors_of(offline.sync_scans),
    )
    async def sync(self, db: AsyncSession, actor: Actor, settings: Settings, data: SyncIn) -> SyncOut:
        scans = [offline.ScanIn(s.nonce, s.activity_id, s.code, s.scanned_at) for s in data.scans]
        done = await offline.sync_scans(db, actor, settings.signing_key, data.device_id, scans, data.sent_at)
        return SyncOut(
            results=[
                SyncResultOut(nonce=r.nonce, status=r.status, code=r.code, attendance_id=r.attendance_id)
                for r in done
            ]
        )

    @get(
        "/activities/{aid:uuid}/offline-scans",
        summary="The activity's refused and conflicting offline scans nobody resolved yet (organizer)",
        responses=errors_of(svc.organizer_activity),
    )
    async def pending(self, db: AsyncSession, actor: Actor, aid: uuid.UUID) -> list[PendingScanOut]:
        await svc.organizer_activity(db, actor, aid)
        return [
            PendingScanOut(
                id=r.id,
                nonce=r.nonce,
                device_id=r.device_id,
                status=msgspec.convert(r.status, Literal["refused", "conflict"]),
                code=r.refusal,
                scanned_at=r.scanned_at,
                member_id=r.member_id,
                name=r.name,
                attendance_id=r.attendance_id,
            )
            for r in await views.offline_scans_to_resolve(db, aid)
        ]

    @post(
        "/offline-scans/{scan_id:uuid}/resolve",
        status_code=200,
        summary="Accept or dismiss a refused or conflicting offline scan (an organizer, audited)",
        responses=errors_of(offline.resolve_scan),
    )
    async def resolve(
        self, db: AsyncSession, actor: Actor, settings: Settings, scan_id: uuid.UUID, data: ResolveIn
    ) -> OfflineScanOut:
        row = await offline.resolve_scan(db, actor, scan_id, data.action, settings.signing_key)
        return OfflineScanOut(
            id=row.id,
            nonce=row.nonce,
            status=msgspec.convert(row.status, Literal["accepted", "dismissed"]),
            attendance_id=row.attendance_id,
        )


def _scanner_out(r: views.ScannerRow) -> ScannerOut:
    return ScannerOut(
        member_id=r.member_id, name=r.name, assigned_by=r.assigned_by, created_at=r.created_at, clerk=r.clerk
    )


class ScannerController(Controller):
    """Scanning helpers: store clerks an organizer names to scan at one activity (docs/offline.md)."""

    path = "/api/v1/activities/{aid:uuid}/scanners"
    tags = ["activities"]

    @get(
        "/",
        summary="The clerks named to scan at the activity (organizer)",
        responses=errors_of(views.activity_scanners),
    )
    async def list_scanners(self, db: AsyncSession, actor: Actor, aid: uuid.UUID) -> list[ScannerOut]:
        return [_scanner_out(r) for r in await views.activity_scanners(db, actor, aid)]

    @post(
        "/",
        summary="Name a store clerk of the community to scan at this open activity (organizer, audited)",
        description="The clerk may then download the activity's offline kit and upload its scans. "
        "Nobody names themself (scanner_self); a member who is not a clerk of the community is "
        "scanner_not_clerk.",
        responses=errors_of(svc.assign_scanner),
    )
    async def assign(self, db: AsyncSession, actor: Actor, aid: uuid.UUID, data: ScannerIn) -> ScannerOut:
        await svc.assign_scanner(db, actor, aid, data.member_id)
        (row,) = await views.scanners_of(db, aid, data.member_id)
        return _scanner_out(row)

    @delete(
        "/{member_id:uuid}",
        status_code=204,
        summary="Take a clerk off the activity's scanning helpers (organizer, audited)",
        responses=errors_of(svc.remove_scanner),
    )
    async def remove(self, db: AsyncSession, actor: Actor, aid: uuid.UUID, member_id: uuid.UUID) -> None:
        await svc.remove_scanner(db, actor, aid, member_id)


ROUTES: list[Any] = [
    ActivityController,
    CardController,
    TeamController,
    CorrectionController,
    OfflineController,
    ScannerController,
]
