"""The audit log's command: other domains call :func:`record`; admins read with
:func:`service.audit.views.list_events` (re-exported here for existing callers).

The audit package imports only the accounts *tables* and errors (not the accounts service), because the
accounts service itself records its acts here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.audit import rules
from service.audit.models import ACTION_MAX, CLIENT_ADDR_MAX, AuditChain, AuditEvent
from service.audit.views import AuditView, list_events
from service.db import is_postgres
from service.ids import new_id

__all__ = ["ACTIONS", "CLIENT_ADDR", "AuditView", "Event", "list_events", "record", "record_many", "snapshot"]

CLIENT_ADDR: ContextVar[str | None] = ContextVar("audit_client_addr", default=None)
"""The client address of the request being served (set by the app for each HTTP request): what
:func:`record` writes when its caller passes none, so every service function records it without
threading the request through."""

ACTIONS = (
    "award_requested",
    "award_approved",
    "award_rejected",
    "transfer_reversed",
    "manual_attendance_approved",
    "manual_attendance_rejected",
    "role_granted",
    "role_removed",
    "password_set",
    "phone_changed",
    "name_changed",
    "members_imported",
    "community_created",
    "self_registration_changed",
    "registration_approved",
    "registration_rejected",
    "activation_issued",
    "partner_created",
    "points_policy_changed",
    "activity_created",
    "activity_updated",
    "activity_approved",
    "activity_cancelled",
    "activity_closed",
    "activity_policy_changed",
    "card_scanned",
    "poster_revoked",
    "manual_attendance_requested",
    "team_created",
    "team_member_added",
    "store_settings_changed",
    "product_created",
    "product_updated",
    "product_image_set",
    "order_picked_up",
    "order_cancelled",
    "offer_created",
    "voucher_redeemed",
    "rule_created",
    "rule_updated",
    "rewards_settings_changed",
    "claim_filed",
    "correction_requested",
    "correction_approved",
    "correction_rejected",
    "account_secured",
    "claim_approved",
    "claim_rejected",
    "wish_dispatched",
    "wish_confirmed",
    "wish_accepted",
    "wish_call_bound",
    "household_link_confirmed",
    "household_link_rejected",
    "household_link_removed",
    "region_created",
    "community_region_set",
    "official_added",
    "official_removed",
    "privacy_accepted",
    "personal_data_exported",
    "data_correction_requested",
    "data_correction_granted",
    "data_correction_refused",
    "deletion_requested",
    "deletion_granted",
    "deletion_refused",
    "certificate_issued",
    "certificate_voided",
    "hours_exported",
    "issuer_settings_changed",
    "offline_scans_synced",
    "offline_scan_resolved",
    "scanner_assigned",
    "scanner_removed",
)
"""Actions recorded today; other domains may add theirs (snake_case, past tense). Every staff route's
action is listed in tests/api/test_route_matrix.py (AUDITED)."""


@dataclass(frozen=True)
class Event:
    """One event to append with :func:`record_many` (``client_addr`` as given: no request default)."""

    actor_id: uuid.UUID | None
    action: str
    community_id: uuid.UUID | None = None
    subject_member_id: uuid.UUID | None = None
    detail: dict[str, Any] | None = None
    client_addr: str | None = None


async def record(
    db: AsyncSession,
    *,
    actor_id: uuid.UUID | None,
    action: str,
    community_id: uuid.UUID | None = None,
    subject_member_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
    client_addr: str | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction: it commits (or rolls back) with the act itself.

    The event extends its community's hash chain: the chain's head row is locked (``FOR UPDATE`` on
    PostgreSQL; a SQLite transaction holds the write lock already) until the transaction ends, so call
    this after the act's own locks (last, as a rule). ``client_addr`` defaults to the current request's.
    """
    addr = client_addr if client_addr is not None else CLIENT_ADDR.get()
    event = Event(actor_id, action, community_id, subject_member_id, detail, addr)
    return (await record_many(db, [event]))[0]


async def record_many(db: AsyncSession, events: Sequence[Event]) -> list[AuditEvent]:
    """Append several events in the caller's transaction, in the order given: each community's events
    extend ONE of its chains (its head locked once, as :func:`record` locks it), one after the other.
    What a batch of acts records in the batch's own transaction (a shop's grouped redemptions)."""
    for e in events:
        if not e.action or len(e.action) > ACTION_MAX or not e.action.replace("_", "").isalnum():
            raise ValueError(
                f"audit action must be snake_case of at most {ACTION_MAX} characters: {e.action!r}"
            )
    heads: dict[uuid.UUID | None, tuple[str, int, str]] = {}
    out: list[AuditEvent] = []
    for e in events:
        if e.community_id not in heads:
            heads[e.community_id] = await _lock_head(db, e.community_id)
        chain, seq, prev_hash = heads[e.community_id]
        event = AuditEvent(
            id=new_id(),
            created_at=clock.now(),
            community_id=e.community_id,
            actor_id=e.actor_id,
            action=e.action,
            subject_member_id=e.subject_member_id,
            # Stored exactly as hashed: what JSON gives back when read.
            detail=json.loads(rules.canonical_detail(e.detail)),
            client_addr=e.client_addr[:CLIENT_ADDR_MAX] if e.client_addr else None,
            chain=chain,
            seq=seq + 1,
            prev_hash=prev_hash,
        )
        event.hash = rules.event_hash(
            prev_hash,
            event_id=event.id,
            chain=chain,
            seq=event.seq,
            community_id=e.community_id,
            actor_id=e.actor_id,
            action=e.action,
            subject_member_id=e.subject_member_id,
            detail=event.detail,
            client_addr=event.client_addr,
            created_at=event.created_at,
        )
        heads[e.community_id] = (chain, event.seq, event.hash)
        out.append(event)
    db.add_all(out)
    await db.flush()
    for chain, seq, last_hash in heads.values():
        await db.execute(
            update(AuditChain).where(AuditChain.chain == chain).values(seq=seq, last_hash=last_hash)
        )
    return out


def snapshot(obj: object | None, *fields: str) -> dict[str, Any] | None:
    """The named attributes of a settings row as JSON values, for an event's ``before`` and ``after``
    (None when there was no row yet)."""
    if obj is None:
        return None
    out: dict[str, Any] = json.loads(rules.canonical_detail({f: getattr(obj, f) for f in fields}))
    return out


_FREE_HEAD = (
    "SELECT chain, seq, last_hash FROM audit_chains WHERE chain IN :chains"
    " ORDER BY chain FOR UPDATE SKIP LOCKED LIMIT 1"
)


async def _lock_head(db: AsyncSession, community_id: uuid.UUID | None) -> tuple[str, int, str]:
    """A chain of the community with its head row locked: its name, last ``seq`` and hash.

    SQLite (one writer) has one chain per community. PostgreSQL takes the first of the community's
    ``rules.CHAIN_SHARDS`` heads no other transaction holds (``SKIP LOCKED`` never waits; a head this
    transaction already holds counts as free), making the heads on a community's first event.
    """
    if not is_postgres(db):
        chain = rules.chain_of(community_id)
        await _make_heads(db, [chain])
        seq, last = await _wait_for_head(db, chain)
        return chain, seq, last
    shards = rules.chain_shards(community_id)
    query = text(_FREE_HEAD).bindparams(bindparam("chains", expanding=True))
    for attempt in range(2):
        row = (await db.execute(query, {"chains": shards})).first()
        if row is not None:
            return str(row.chain), int(row.seq), str(row.last_hash)
        if attempt == 0:
            await _make_heads(db, shards)
    seq, last = await _wait_for_head(db, shards[0])  # every head held by others at once: wait
    return shards[0], seq, last


async def _wait_for_head(db: AsyncSession, chain: str) -> tuple[int, str]:
    stmt = select(AuditChain.seq, AuditChain.last_hash).where(AuditChain.chain == chain)
    head = (await db.execute(stmt.with_for_update())).one()
    return int(head.seq), str(head.last_hash)


async def _make_heads(db: AsyncSession, chains: list[str]) -> None:
    """The chains' head rows, made on a chain's first event (at the genesis hash)."""
    await db.execute(
        text(
            "INSERT INTO audit_chains (chain, seq, last_hash) VALUES (:chain, 0, :genesis)"
            " ON CONFLICT (chain) DO NOTHING"
        ),
        [{"chain": c, "genesis": rules.GENESIS_HASH} for c in chains],
    )
