"""Pure rules of the ledger: hashes, expiry dates, spending order. No I/O, no framework."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "EXPIRING_WINDOW_DAYS",
    "GENESIS_HASH",
    "AwardStatus",
    "allocate",
    "budget_delta",
    "budget_issued",
    "budget_month",
    "content_hash",
    "entry_hash",
    "expiry_for",
    "owner_key",
    "policy_widens",
    "utc_text",
]

AwardStatus = Literal["pending_approval", "posted", "rejected"]
"""A manual award is posted at once, or waits for a second admin who posts or rejects it."""
GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of an account's first entry."""
EXPIRING_WINDOW_DAYS = 30
"""The balance lists points that expire within this many days."""


def utc_text(moment: datetime | None) -> str:
    """A canonical text for a time: UTC, microseconds, no ambiguity between databases."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    prev_hash: str,
    *,
    entry_id: uuid.UUID,
    community_id: uuid.UUID,
    transfer_id: uuid.UUID,
    account_id: uuid.UUID,
    points: int,
    seq: int,
    expires_at: datetime | None,
    created_at: datetime,
) -> str:
    """SHA-256 over the previous hash and every field of the entry, in a fixed order."""
    fields = [
        prev_hash,
        str(entry_id),
        str(community_id),
        str(transfer_id),
        str(account_id),
        str(int(points)),
        str(int(seq)),
        utc_text(expires_at),
        utc_text(created_at),
    ]
    return hashlib.sha256("|".join(fields).encode()).hexdigest()


def content_hash(
    op: str,
    *,
    legs: Iterable[tuple[uuid.UUID, int]],
    code: str,
    memo: str,
    ref_type: str | None,
    ref_id: str | None,
    extra: str = "",
) -> str:
    """What a request asked for, so a retry with the same idempotency key can be told from a conflict."""
    body = {
        "op": op,
        "legs": sorted([str(account), int(points)] for account, points in legs),
        "code": code,
        "memo": memo,
        "ref_type": ref_type,
        "ref_id": ref_id,
        "extra": extra,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def expiry_for(earned_at: datetime, mode: str, value: int, zone: ZoneInfo) -> datetime | None:
    """When points earned at ``earned_at`` expire under a community's policy (``None``: never).

    ``days``: ``value`` days after earning. ``years``: at the end of the ``value``-th calendar year in
    the community's time zone, counting the year of earning as the first (1 = this 31 December).
    """
    if mode == "never" or value <= 0:
        return None
    if mode == "days":
        return earned_at + timedelta(days=value)
    if mode == "years":
        local = earned_at.astimezone(zone)
        return datetime(local.year + value, 1, 1, tzinfo=zone).astimezone(UTC)
    raise ValueError(f"unknown expiry mode {mode!r}")


def allocate(lots: Sequence[tuple[int, datetime | None, uuid.UUID]], points: int) -> list[int]:
    """How much to take from each lot to spend ``points``, oldest-expiring first, never-expiring last,
    lots expiring together by id (``ledger_spend_lots`` in service/points/sql/ledger.sql).

    ``lots`` are (remaining, expires_at, lot id) in any order; the result is aligned with it. Raises
    ``ValueError`` when the lots do not hold enough (the caller checked the balance, so that is a bug).
    """
    order = sorted(
        range(len(lots)),
        key=lambda i: (lots[i][1] is None, lots[i][1] or datetime.max.replace(tzinfo=UTC), lots[i][2]),
    )
    take = [0] * len(lots)
    left = points
    for i in order:
        if left <= 0:
            break
        step = min(lots[i][0], left)
        take[i] = step
        left -= step
    if left > 0:
        raise ValueError(f"lots hold {points - left} points, {points} needed")
    return take


def member_total(other_kind: str, points: int) -> tuple[str, int]:
    """Which running total of a member account a leg of ``points`` (signed) moves, and by how much, so
    that balance = earned - spent - expired (``ledger_write`` in service/points/sql/ledger.sql).
    ``other_kind`` is the kind of the transfer's other account."""
    amount = abs(points)
    credit = points > 0
    if other_kind == "expired":
        return "expired", -amount if credit else amount
    if other_kind == "issuance" or (other_kind == "member" and credit):
        return "earned", amount if credit else -amount
    return "spent", -amount if credit else amount


def owner_key(kind: str, member_id: uuid.UUID | None, partner_id: uuid.UUID | None, shard: int = 0) -> str:
    """The unique key of a ledger account within its community (``member:<id>``, ``issuance:3``...)."""
    if kind == "member":
        return f"member:{member_id}"
    if kind == "partner":
        return f"partner:{partner_id}"
    return f"{kind}:{shard}" if shard else kind


def policy_widens(before: dict[str, object], after: dict[str, object]) -> bool:
    """Whether a points-policy change widens risk: a higher award approval threshold (bigger awards post
    on one admin's word) or longer-lived points. Between ``days`` and ``years`` the lifetime depends on
    the date, so a change of mode counts as widening unless it comes from ``never``."""
    if int(str(after["award_approval_threshold"])) > int(str(before["award_approval_threshold"])):
        return True
    old_mode, new_mode = before["expiry_mode"], after["expiry_mode"]
    if old_mode == new_mode:
        return int(str(after["expiry_value"])) > int(str(before["expiry_value"]))
    return old_mode != "never"


def budget_delta(debit_kind: str, credit_kind: str, points: int) -> int:
    """What a transfer counts against its community's monthly issuance budget: ``points`` issued
    (issuance -> member), ``-points`` given back (member -> issuance, a reversal), else nothing
    (``ledger_write`` in service/points/sql/ledger.sql)."""
    if debit_kind == "issuance" and credit_kind == "member":
        return points
    if debit_kind == "member" and credit_kind == "issuance":
        return -points
    return 0


def budget_month(moment: datetime, timezone: str) -> date:
    """The first day of the local month of ``moment``: the key of the month's issuance counter."""
    return moment.astimezone(ZoneInfo(timezone)).date().replace(day=1)


def budget_issued(issued: int, delta: int, budget: int | None) -> int | None:
    """The month's issued points after ``delta``, or ``None`` when the budget refuses it: an issuance
    must fit (no budget set: nothing issues); a giving back always passes and never goes below zero
    (points of an earlier month given back do not widen this month's budget beyond it)."""
    if delta <= 0:
        return max(0, issued + delta)
    if budget is None or issued + delta > budget:
        return None
    return issued + delta
