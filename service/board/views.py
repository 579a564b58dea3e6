"""The public notice board (公示栏) and the month's leaderboards, as the page and the API show them.

No login; names are masked (王*成). Queries are bounded: claims come with their rule titles in one query,
objection counts in one grouped query, names in one ``accounts.views`` call; the leaderboards are SQL
aggregates of the ledger (points) and of attendance (activities).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import service as accounts
from service.accounts import views as people
from service.accounts.actor import Actor
from service.activities import service as activities
from service.activities import views as activity_views
from service.board import rules
from service.board.errors import BoardNotFound
from service.errors import DomainError, raises
from service.kit import qr
from service.kit.masking import mask_name
from service.kit.months import InvalidMonth, month_bounds, month_of, parse_month, require_month
from service.kit.stars import star_level
from service.points import service as points
from service.rewards import rules as reward_rules
from service.rewards import views as reward_views
from service.rewards.models import Claim, ClaimObjection, RewardRule, RuleAdoption

__all__ = [
    "Board",
    "BoardClaim",
    "BoardHours",
    "BoardPage",
    "BoardRank",
    "CommunityRef",
    "Poster",
    "board",
    "board_page",
    "poster",
]


@dataclass(frozen=True)
class CommunityRef:
    """The community a board or poster is about."""

    id: uuid.UUID
    code: str
    name: str
    timezone: str


async def _by_id(db: AsyncSession, community_id: uuid.UUID) -> CommunityRef:
    c = await accounts.get_community(db, community_id)
    return CommunityRef(id=c.id, code=c.code, name=c.name, timezone=c.timezone)


async def _by_code(db: AsyncSession, code: str) -> CommunityRef:
    c = await accounts.get_community_by_code(db, code)
    return CommunityRef(id=c.id, code=c.code, name=c.name, timezone=c.timezone)


@dataclass(frozen=True)
class BoardClaim:
    id: uuid.UUID
    rule_title: str
    member_name: str
    points: int
    publicized_at: datetime | None
    publicity_ends_at: datetime | None
    awarded_at: datetime | None
    objections: int
    evidence_summary: str = ""
    """The evidence as neighbours may read it: names and phone/ID numbers masked, shortened."""
    event_date: date | None = None


@dataclass(frozen=True)
class BoardRank:
    """One row of a points leaderboard (a masked member name, or a team name)."""

    rank: int
    name: str
    points: int


@dataclass(frozen=True)
class BoardHours:
    """One row of a service-hours leaderboard (a masked member name, or a team name)."""

    rank: int
    name: str
    minutes: int
    star_level: int = 0
    """星级志愿者 (0-5) from the member's cumulative recorded hours; 0 for a team."""

    @property
    def hours(self) -> float:
        return round(self.minutes / 60, 1)


@dataclass(frozen=True)
class BoardRule:
    id: uuid.UUID
    title: str
    points: int
    """Positive: earned by a claim; negative: a deduction (扣分)."""
    in_force: RuleAdoption | None
    """The version in force today with its meeting (None: no adoption recorded yet)."""
    versions: list[RuleAdoption] = field(default_factory=list)
    """Every recorded version, newest first (past ones stay readable)."""


@dataclass(frozen=True)
class Board:
    community_id: uuid.UUID
    community_code: str
    community_name: str
    timezone: str
    month: str
    under_publicity: list[BoardClaim]
    recent_awards: list[BoardClaim]
    leaderboard: list[BoardRank]
    """Points earned in the month from every source (the ledger), by member."""
    hours_leaderboard: list[BoardHours] = field(default_factory=list)
    team_leaderboard: list[BoardRank] = field(default_factory=list)
    """Points earned in the month by each team's members."""
    team_hours_leaderboard: list[BoardHours] = field(default_factory=list)
    village_rules: list[BoardRule] = field(default_factory=list)
    """The rules in force (村规民约), rewards and deductions, each with the meeting that adopted it."""


async def _board_claims(
    db: AsyncSession, community_id: uuid.UUID, status: str, *, with_evidence: bool
) -> list[BoardClaim]:
    """Up to :data:`rules.BOARD_ITEMS_MAX` claims in ``status`` (publicized: ending soonest first;
    awarded: newest first), in three queries whatever their number."""
    order = Claim.publicity_ends_at if status == "publicized" else Claim.awarded_at.desc()
    rows = (
        await db.execute(
            select(Claim, RewardRule.title)
            .join(RewardRule, RewardRule.id == Claim.rule_id)
            .where(Claim.community_id == community_id, Claim.status == status)
            .order_by(order)
            .limit(rules.BOARD_ITEMS_MAX)
        )
    ).all()
    ids = [claim.id for claim, _t in rows]
    counts: Counter[uuid.UUID] = Counter()
    if ids:
        grouped = await db.execute(
            select(ClaimObjection.claim_id, func.count())
            .where(ClaimObjection.claim_id.in_(ids))
            .group_by(ClaimObjection.claim_id)
        )
        counts.update(dict(grouped.all()))
    people_ids = {i for claim, _t in rows for i in (claim.member_id, claim.submitted_by)}
    names = await people.member_names(db, people_ids)  # full names only to mask them in the evidence
    out = []
    for claim, title in rows:
        summary = ""
        if with_evidence and claim.public_summary is not None:
            summary = claim.public_summary  # fixed (and masked) when the reviewer approved the notice
        elif with_evidence and claim.evidence:  # approved before summaries were kept
            known = [names[i] for i in {claim.member_id, claim.submitted_by} if i in names]
            summary = reward_rules.evidence_summary(claim.evidence, [(n, mask_name(n)) for n in known])
        out.append(
            BoardClaim(
                id=claim.id,
                rule_title=title,
                member_name=mask_name(names[claim.member_id]) if claim.member_id in names else "?",
                points=claim.points,
                publicized_at=claim.publicized_at,
                publicity_ends_at=claim.publicity_ends_at,
                awarded_at=claim.awarded_at,
                objections=int(counts[claim.id]),
                evidence_summary=summary,
                event_date=claim.event_date,
            )
        )
    return out


@dataclass(frozen=True)
class _Leaderboards:
    leaderboard: list[BoardRank]
    hours_leaderboard: list[BoardHours]
    team_leaderboard: list[BoardRank]
    team_hours_leaderboard: list[BoardHours]


async def _leaderboards(
    db: AsyncSession, community_id: uuid.UUID, start: datetime, end: datetime
) -> _Leaderboards:
    """The month's leaderboards: points (from the ledger, every source) and service hours, by member
    and by team."""
    earned = await points.earned_leaderboard(db, community_id, start, end, limit=None)
    hours = await activities.hours_leaderboard(db, community_id, start, end, limit=rules.BOARD_ITEMS_MAX)
    team_hours = await activities.team_hours_leaderboard(
        db, community_id, start, end, limit=rules.BOARD_ITEMS_MAX
    )
    top = earned[: rules.BOARD_ITEMS_MAX]
    names = await people.member_names(db, [mid for mid, _ in top] + [mid for mid, _ in hours], masked=True)
    teams = rules.team_points(dict(earned), await activities.team_members(db, community_id)) if earned else []
    lifetime = await activity_views.cumulative_minutes(db, [mid for mid, _ in hours])
    return _Leaderboards(
        leaderboard=[
            BoardRank(rank=i + 1, name=names.get(mid, "?"), points=p) for i, (mid, p) in enumerate(top)
        ],
        hours_leaderboard=[
            BoardHours(
                rank=i + 1, name=names.get(mid, "?"), minutes=m, star_level=star_level(lifetime.get(mid, 0))
            )
            for i, (mid, m) in enumerate(hours)
        ],
        team_leaderboard=[BoardRank(rank=i + 1, name=n, points=t) for i, (n, t) in enumerate(teams)],
        team_hours_leaderboard=[
            BoardHours(rank=i + 1, name=n, minutes=m) for i, (_tid, n, m) in enumerate(team_hours)
        ],
    )


async def _board_of(db: AsyncSession, community: CommunityRef, month: str | None) -> Board:
    year, mon = require_month(month or month_of(clock.now(), community.timezone))
    start, end = month_bounds(year, mon, community.timezone)
    boards = await _leaderboards(db, community.id, start, end)
    return Board(
        community_id=community.id,
        community_code=community.code,
        community_name=community.name,
        timezone=community.timezone,
        month=f"{year:04d}-{mon:02d}",
        under_publicity=await _board_claims(db, community.id, "publicized", with_evidence=True),
        recent_awards=await _board_claims(db, community.id, "awarded", with_evidence=False),
        leaderboard=boards.leaderboard,
        hours_leaderboard=boards.hours_leaderboard,
        team_leaderboard=boards.team_leaderboard,
        team_hours_leaderboard=boards.team_hours_leaderboard,
        village_rules=await _village_rules(db, community),
    )


async def _village_rules(db: AsyncSession, community: CommunityRef) -> list[BoardRule]:
    """The active rules, rewards first, each with its versions and the one in force today."""
    rules_ = list(
        await db.scalars(
            select(RewardRule)
            .where(RewardRule.community_id == community.id, RewardRule.active.is_(True))
            .order_by(RewardRule.points.desc(), RewardRule.title)
        )
    )
    versions: dict[uuid.UUID, list[RuleAdoption]] = {}
    for row in await db.scalars(
        select(RuleAdoption)
        .where(RuleAdoption.community_id == community.id)
        .order_by(RuleAdoption.version.desc())
    ):
        versions.setdefault(row.rule_id, []).append(row)
    today = clock.now().astimezone(ZoneInfo(community.timezone)).date()
    out = []
    for r in rules_:
        mine = versions.get(r.id, [])
        in_force = next((v for v in mine if v.effective_from <= today), None)
        out.append(BoardRule(id=r.id, title=r.title, points=r.points, in_force=in_force, versions=mine))
    return out


@raises(InvalidMonth, accounts.get_community)
async def board(db: AsyncSession, community_id: uuid.UUID, month: str | None = None) -> Board:
    """The public notice board (公示栏): needs no login, shows names only masked."""
    return await _board_of(db, await _by_id(db, community_id), month)


async def _community(db: AsyncSession, key: str) -> CommunityRef:
    """The community by id or code (``/board/xingfuli`` works as well as the UUID); BoardNotFound."""
    try:
        return await _by_id(db, uuid.UUID(key))
    except ValueError:
        pass
    except DomainError as exc:
        raise BoardNotFound() from exc
    try:
        return await _by_code(db, key)
    except DomainError as exc:
        raise BoardNotFound() from exc


@dataclass(frozen=True)
class BoardPage:
    board: Board
    can_object: bool
    """The reader is a member of the community (objections, receipts)."""
    receipts: list[reward_views.MyObjection]


@raises(BoardNotFound, InvalidMonth)
async def board_page(db: AsyncSession, actor: Actor | None, key: str, month: str | None) -> BoardPage:
    """The board page: by community id or code; a malformed month shows this month rather than an error."""
    community = await _community(db, key)
    shown = await _board_of(db, community, month if parse_month(month) else None)
    member = actor is not None and bool((await people.roles_in(db, actor, community.id)).held)
    receipts = await reward_views.my_objections(db, actor, community.id) if member and actor else []
    return BoardPage(board=shown, can_object=member, receipts=receipts)


@dataclass(frozen=True)
class Poster:
    community: CommunityRef
    url: str
    svg: Markup


@raises(BoardNotFound)
async def poster(db: AsyncSession, code: str, public_url: str) -> Poster:
    """An A4 sheet for the notice wall: the community's name and the QR of its board's short address."""
    try:
        community = await _by_code(db, code)
    except DomainError as exc:
        raise BoardNotFound() from exc
    url = f"{public_url.rstrip('/')}/b/{community.code}"
    text = qr.svg(url).decode()
    return Poster(community=community, url=url, svg=Markup(text[text.index("<svg") :]))  # our own markup
