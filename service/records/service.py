"""Commands of the records: add one's ID document, set the issuer's details, issue and void a
certificate, export the hours for a volunteer platform. Each is one transaction; staff acts are audited.

ID numbers never leave this module unencrypted except to their holder (``views.identity_of``) and in the
hours export for staff of the community; audit details carry the masked number at most, and nothing
here logs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import service as accounts
from service.accounts.actor import Actor
from service.accounts.views import (
    community_code,
    community_view,
    is_member,
    members_by_id,
    roles_in,
)
from service.activities.errors import MemberNotFound
from service.activities.views import cumulative_minutes
from service.audit.service import record, snapshot
from service.db import is_postgres
from service.errors import Forbidden, raises
from service.kit.stars import star_level
from service.records import crypto, queries, rules
from service.records.errors import (
    CertificateAlreadyVoided,
    CertificateNotFound,
    ExportPeriodInvalid,
    IdentityRequired,
    IdNumberInvalid,
    IdNumberTaken,
    IdTypeUnknown,
    IssuerTeamNotFound,
    VoidReasonRequired,
)
from service.records.models import Certificate, CertificateLine, Identity, Issuer, RecordCounter

__all__ = [
    "CERTIFICATE_LINES_MAX",
    "EXPORT_DAYS_MAX",
    "EXPORT_HEADER",
    "EXPORT_ROWS_MAX",
    "Period",
    "export_hours",
    "issue_certificate",
    "next_in_sequence",
    "parse_period",
    "set_identity",
    "set_issuer",
    "void_certificate",
]

CERTIFICATE_LINES_MAX = 2_000
"""Service records one certificate states at most (a volunteer of 20 years at two a week)."""
EXPORT_ROWS_MAX = 50_000
EXPORT_DAYS_MAX = 366
CERTIFICATE_REFUSED = "Only the volunteer, or an organizer or admin of the community, may do this."


async def next_in_sequence(db: AsyncSession, key: str) -> int:
    """The next number of a never-repeating sequence (the row is locked until the transaction ends)."""
    insert = pg_insert if is_postgres(db) else sqlite_insert
    await db.execute(insert(RecordCounter).values(key=key, last=0).on_conflict_do_nothing())
    value = await db.scalar(
        update(RecordCounter)
        .where(RecordCounter.key == key)
        .values(last=RecordCounter.last + 1)
        .returning(RecordCounter.last)
    )
    if value is None:  # impossible: the row was just made
        raise RuntimeError(f"counter {key} missing")
    return int(value)


@raises(IdTypeUnknown, IdNumberInvalid, IdNumberTaken)
async def set_identity(
    db: AsyncSession, actor: Actor, keys: crypto.IdKeys, id_type: str, raw_number: str
) -> Identity:
    """Add or replace the caller's ID document; the first one gets a volunteer number for good."""
    if id_type not in rules.ID_TYPES:
        raise IdTypeUnknown()
    number = rules.normalise_id_number(raw_number)
    if len(number) > rules.ID_NUMBER_MAX or not rules.id_number_ok(id_type, number):
        raise IdNumberInvalid()
    digest = crypto.lookup_hash(keys, id_type, number)
    holder = await db.scalar(select(Identity.member_id).where(Identity.number_hash == digest))
    if holder is not None and holder != actor.member_id:
        raise IdNumberTaken()
    row = await db.get(Identity, actor.member_id, with_for_update=True)
    now = clock.now()
    if row is None:
        seq = await next_in_sequence(db, "volunteer")
        row = Identity(
            member_id=actor.member_id, volunteer_number=rules.volunteer_number(seq), created_at=now
        )
        db.add(row)
    row.id_type = id_type
    row.number_cipher = crypto.seal_number(keys, actor.member_id, number)
    row.number_hash = digest
    row.number_masked = rules.mask_id_number(number)
    row.updated_at = now
    await db.flush()
    return row


ISSUER_FIELDS = ("person_in_charge", "handler", "contact")


@raises(accounts.require_role)
async def set_issuer(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, person_in_charge: str, handler: str, contact: str
) -> Issuer:
    """What the community's certificates say of their issuer (admins); audited with before and after."""
    await accounts.require_role(db, actor, community_id, "admin")
    row = await db.get(Issuer, community_id, with_for_update=True)
    before = snapshot(row, *ISSUER_FIELDS)
    if row is None:
        row = Issuer(community_id=community_id)
        db.add(row)
    row.person_in_charge, row.handler, row.contact = person_in_charge, handler, contact
    row.updated_at, row.updated_by = clock.now(), actor.member_id
    await db.flush()
    await record(
        db,
        actor_id=actor.member_id,
        action="issuer_settings_changed",
        community_id=community_id,
        detail={"before": before, "after": snapshot(row, *ISSUER_FIELDS)},
    )
    return row


@raises(Forbidden, accounts.require_community_exists)
async def _may_act_for(db: AsyncSession, actor: Actor, community_id: uuid.UUID, member_id: uuid.UUID) -> None:
    """The member themself (holding a role in the community), or an organizer or admin of it."""
    await accounts.require_community_exists(db, community_id)
    roles = await roles_in(db, actor, community_id)
    if roles.any("organizer") or (member_id == actor.member_id and roles.member):
        return
    raise Forbidden(detail=CERTIFICATE_REFUSED)


@dataclass(frozen=True)
class _IssuerFacts:
    key: str
    name: str
    tag: str | None
    person_in_charge: str
    handler: str
    contact: str


@raises(IssuerTeamNotFound)
async def _issuer(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, community_name: str, team_id: uuid.UUID | None
) -> _IssuerFacts:
    settings = await db.get(Issuer, community_id)
    person = settings.person_in_charge if settings else ""
    handler = (settings.handler if settings else "") or actor.name
    contact = settings.contact if settings else ""
    if team_id is None:
        return _IssuerFacts(str(community_id), community_name, None, person, handler, contact)
    team = await queries.team_in(db, community_id, team_id)
    if team is None:
        raise IssuerTeamNotFound()
    leader = (await members_by_id(db, [team.leader_id])).get(team.leader_id)
    return _IssuerFacts(
        str(team.id),
        f"{community_name} {team.name}",
        team.id.hex[:6].upper(),
        leader.name if leader else person,
        handler,
        contact,
    )


@raises(_may_act_for, MemberNotFound, IdentityRequired, _issuer)
async def issue_certificate(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, member_id: uuid.UUID, team_id: uuid.UUID | None
) -> Certificate:
    """Issue a certificate of the member's service records in the community (or of one of its teams'
    activities): the facts as of today, a number unique per issuer and year, recorded and audited."""
    await _may_act_for(db, actor, community_id, member_id)
    place = await community_view(db, community_id)
    person = (await members_by_id(db, [member_id])).get(member_id)
    if place is None or person is None or not await is_member(db, member_id, community_id):
        raise MemberNotFound()
    identity = await db.get(Identity, member_id)
    if identity is None:
        raise IdentityRequired()
    issuer = await _issuer(db, actor, community_id, place.name, team_id)
    zone = ZoneInfo(place.timezone)
    today = clock.now().astimezone(zone).date()
    seq = await next_in_sequence(db, f"certificate:{issuer.key}:{today.year}")
    code = await community_code(db, community_id) or "JF"
    lines = await queries.records_of(
        db, community_id, member_id=member_id, team_id=team_id, limit=CERTIFICATE_LINES_MAX
    )
    lifetime = (await cumulative_minutes(db, [member_id])).get(member_id, 0)
    cert = Certificate(
        community_id=community_id,
        team_id=team_id,
        issuer_key=issuer.key,
        year=today.year,
        seq=seq,
        number=rules.certificate_number(code, issuer.tag, today.year, seq),
        member_id=member_id,
        issued_by=actor.member_id,
        issued_on=today.isoformat(),
        issuer_name=issuer.name,
        person_in_charge=issuer.person_in_charge,
        handler=issuer.handler,
        contact=issuer.contact,
        member_name=person.name,
        id_type=identity.id_type,
        id_masked=identity.number_masked,
        volunteer_number=identity.volunteer_number,
        total_minutes=sum(r.minutes for r in lines),
        star_level=star_level(lifetime),
        status="valid",
    )
    db.add(cert)
    await db.flush()
    db.add_all(
        CertificateLine(
            certificate_id=cert.id,
            attendance_id=r.attendance_id,
            position=i,
            day=r.checked_in_at.astimezone(zone).date().isoformat(),
            activity=r.activity,
            content=r.content,
            minutes=r.minutes,
            manual=r.evidence == "manual",
        )
        for i, r in enumerate(lines)
    )
    await db.flush()
    await record(
        db,
        actor_id=actor.member_id,
        action="certificate_issued",
        community_id=community_id,
        subject_member_id=member_id,
        detail={
            "certificate_id": str(cert.id),
            "number": cert.number,
            "records": [str(r.attendance_id) for r in lines],
            "minutes": cert.total_minutes,
        },
    )
    return cert


@raises(CertificateNotFound, VoidReasonRequired, CertificateAlreadyVoided, accounts.require_role)
async def void_certificate(
    db: AsyncSession, actor: Actor, certificate_id: uuid.UUID, reason: str
) -> Certificate:
    """Void a certificate with a reason (organizers and admins of its community); audited."""
    cert = await db.get(Certificate, certificate_id, with_for_update=True)
    if cert is None:
        raise CertificateNotFound()
    await accounts.require_role(db, actor, cert.community_id, "organizer")
    reason = reason.strip()
    if not reason:
        raise VoidReasonRequired()
    if cert.status == "voided":
        raise CertificateAlreadyVoided()
    cert.status, cert.void_reason = "voided", reason[: rules.VOID_REASON_MAX]
    cert.voided_by, cert.voided_at = actor.member_id, clock.now()
    await db.flush()
    await record(
        db,
        actor_id=actor.member_id,
        action="certificate_voided",
        community_id=cert.community_id,
        subject_member_id=cert.member_id,
        detail={"certificate_id": str(cert.id), "number": cert.number, "reason": cert.void_reason},
    )
    return cert


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        start = datetime.combine(self.first, time(), zone)
        return start, datetime.combine(self.last + timedelta(days=1), time(), zone)


@raises(ExportPeriodInvalid)
def parse_period(first: str | None, last: str | None, today: date) -> Period:
    """``from``/``to`` as local dates (default: 1 January of this year to today)."""
    try:
        start = date.fromisoformat(first) if first else date(today.year, 1, 1)
        end = date.fromisoformat(last) if last else today
    except ValueError as exc:
        raise ExportPeriodInvalid() from exc
    if end < start or (end - start).days >= EXPORT_DAYS_MAX:
        raise ExportPeriodInvalid()
    return Period(start, end)


EXPORT_HEADER = [
    "姓名",
    "证件类型",
    "证件号码",
    "志愿者编号",
    "手机号",
    "活动名称",
    "服务内容",
    "服务日期",
    "开始时间",
    "结束时间",
    "服务时长(小时)",
    "组织单位",
    "记录类型",
]
"""The columns a provincial or national volunteer platform's import takes, in Chinese."""

RECORD_TYPES = {
    "manual": "补录(人工审核)",
    "kiosk": "扫码签到",
    "poster": "扫码签到",
    "member_card": "刷卡签到",
}


@raises(accounts.require_role, ExportPeriodInvalid, IssuerTeamNotFound)
async def export_hours(
    db: AsyncSession,
    actor: Actor,
    keys: crypto.IdKeys,
    community_id: uuid.UUID,
    *,
    team_id: uuid.UUID | None,
    first: str | None,
    last: str | None,
    file_format: str,
) -> tuple[list[list[object]], str, str]:
    """The hours export with full ID numbers (organizers and admins of the community): the rows
    (header first), the community's time zone and a file label. Every export is audited."""
    await accounts.require_role(db, actor, community_id, "organizer")
    place = await community_view(db, community_id)
    if place is None:  # impossible: require_role checked it exists
        raise RuntimeError("community vanished")
    zone = ZoneInfo(place.timezone)
    period = parse_period(first, last, clock.now().astimezone(zone).date())
    organisation = place.name
    if team_id is not None:
        team = await queries.team_in(db, community_id, team_id)
        if team is None:
            raise IssuerTeamNotFound()
        organisation = f"{place.name} {team.name}"
    start, end = period.bounds(zone)
    rows = await queries.records_of(
        db, community_id, team_id=team_id, start=start, end=end, limit=EXPORT_ROWS_MAX
    )
    people = await members_by_id(db, {r.member_id for r in rows})
    ids = {
        i.member_id: i
        for i in (
            await db.execute(select(Identity).where(Identity.member_id.in_({r.member_id for r in rows})))
        ).scalars()
    }
    table: list[list[object]] = [list(EXPORT_HEADER)]
    for r in rows:
        who, doc = people.get(r.member_id), ids.get(r.member_id)
        local_in = r.checked_in_at.astimezone(zone)
        table.append(
            [
                who.name if who else "",
                rules.ID_TYPE_NAMES.get(doc.id_type, "") if doc else "",
                crypto.open_number(keys, r.member_id, doc.number_cipher) if doc else "",
                doc.volunteer_number if doc else "",
                who.phone if who else "",
                r.activity,
                r.content,
                local_in.date().isoformat(),
                local_in.strftime("%H:%M"),
                r.checked_out_at.astimezone(zone).strftime("%H:%M") if r.checked_out_at else "",
                round(r.minutes / 60, 2),
                organisation,
                RECORD_TYPES.get(r.evidence, r.evidence),
            ]
        )
    await record(
        db,
        actor_id=actor.member_id,
        action="hours_exported",
        community_id=community_id,
        detail={
            "format": file_format,
            "from": period.first.isoformat(),
            "to": period.last.isoformat(),
            "team_id": str(team_id) if team_id else None,
            "rows": len(rows),
            "with_id_numbers": sum(1 for r in rows if r.member_id in ids),
        },
    )
    return table, place.timezone, f"{organisation}-{period.first}-{period.last}"
