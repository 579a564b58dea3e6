"""Pure rules of the audit log: the chain an event belongs to and its hash.

Events are chained per community (and one chain for platform-wide acts, ``community_id`` NULL): each
event carries its chain's ``seq`` (1, 2, ...), the previous event's hash and its own, a SHA-256 over the
previous hash and a canonical text of every field. Editing, deleting or reordering an event breaks the
chain from there on, which ``jifen audit verify`` reports. Per community rather than per installation:
appends in two communities never wait for one another's lock, and ``--community`` checks one chain
whole.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "CHAIN_SHARDS",
    "GENESIS_HASH",
    "PLATFORM_CHAIN",
    "canonical_detail",
    "chain_of",
    "chain_shards",
    "community_chain",
    "event_hash",
    "utc_text",
]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of a chain's first event."""
PLATFORM_CHAIN = "platform"
"""The chain of acts outside any one community."""


CHAIN_SHARDS = 16
"""Chains per community on PostgreSQL: an append locks one chain's head until its transaction ends, so
one chain would make every staff act of a community (a shop's redemptions at the counter among them)
wait for the one before it. An append takes the first head no other transaction holds; alone, that is
always the community's first chain (``chain_of``), so a quiet community has one chain."""


def chain_of(community_id: uuid.UUID | None) -> str:
    """The (first) chain an event of this community belongs to."""
    return str(community_id) if community_id is not None else PLATFORM_CHAIN


def chain_shards(community_id: uuid.UUID | None) -> list[str]:
    """Every chain of the community, the first one first: ``<id>``, ``<id>#1`` ... ``<id>#15``."""
    base = chain_of(community_id)
    return [base, *(f"{base}#{k}" for k in range(1, CHAIN_SHARDS))]


def community_chain(chain: str) -> str:
    """The community's first chain, for any of its chains."""
    return chain.split("#", 1)[0]


def utc_text(moment: datetime) -> str:
    """A canonical text for a time: UTC, microseconds (naive times are UTC, as SQLite returns them)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_detail(detail: dict[str, Any] | None) -> str:
    """The detail as JSON with sorted keys and no spaces: the same text before storing and after reading."""
    return json.dumps(detail or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _opt(value: object | None) -> str:
    return "" if value is None else str(value)


def event_hash(
    prev_hash: str,
    *,
    event_id: uuid.UUID,
    chain: str,
    seq: int,
    community_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    action: str,
    subject_member_id: uuid.UUID | None,
    detail: dict[str, Any] | None,
    client_addr: str | None,
    created_at: datetime,
) -> str:
    """SHA-256 over the previous hash and every field of the event, in a fixed order (JSON-encoded so a
    field's text can never be mistaken for a separator)."""
    fields = [
        prev_hash,
        str(event_id),
        chain,
        int(seq),
        _opt(community_id),
        _opt(actor_id),
        action,
        _opt(subject_member_id),
        canonical_detail(detail),
        _opt(client_addr),
        utc_text(created_at),
    ]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()
