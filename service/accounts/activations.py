"""Activation codes: issuing one, and inviting a member who cannot log in yet.

An activation is a one-time code that lets a member set their own password. Only the code's hash is
stored; the code is derived from the row id with the secret key, so the office can print the same card
again. Adding a member (``service``), importing members and the onboarding pages (``onboarding``) all
issue codes through here, so neither of those modules imports the other.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import rules
from service.accounts.actor import Actor
from service.accounts.models import Activation, Member, Membership
from service.ids import new_id

__all__ = ["belongs_elsewhere", "invite_if_needed", "issue", "open_now", "roles_snapshot"]


def open_now() -> ColumnElement[bool]:
    """An activation that still works: open and not expired."""
    return and_(Activation.status == "open", Activation.expires_at > clock.now())


async def issue(
    db: AsyncSession,
    community_id: uuid.UUID,
    member_id: uuid.UUID,
    secret_key: str,
    issued_by: uuid.UUID | None,
) -> tuple[Activation, str]:
    """A new code for the member; any older open code stops working."""
    await db.execute(
        update(Activation)
        .where(Activation.member_id == member_id, Activation.status == "open")
        .values(status="replaced")
    )
    aid = new_id()
    code = rules.activation_code(secret_key, aid)
    row = Activation(
        id=aid,
        community_id=community_id,
        member_id=member_id,
        code_hash=rules.code_hash(code),
        expires_at=clock.now() + timedelta(seconds=rules.ACTIVATION_LIFETIME_SECONDS),
        issued_by=issued_by,
        roles_snapshot=await roles_snapshot(db, member_id),
    )
    db.add(row)
    await db.flush()
    return row, code


async def roles_snapshot(db: AsyncSession, member_id: uuid.UUID) -> str:
    """The person's roles everywhere, as a code stores them when issued (a change voids the code)."""
    held = await db.execute(
        select(Membership.community_id, Membership.role, Membership.partner_id).where(
            Membership.member_id == member_id
        )
    )
    admin = await db.scalar(select(Member.is_platform_admin).where(Member.id == member_id))
    return rules.roles_snapshot([(c, r, p) for c, r, p in held.all()], bool(admin))


async def invite_if_needed(
    db: AsyncSession, community_id: uuid.UUID, member: Member, secret_key: str, actor: Actor | None
) -> bool:
    """Give a member who cannot log in (no password, no open code) an activation; True if it did.

    A community admin's code would let them into the person's other communities too, so a person who
    belongs elsewhere gets one only from a platform admin or the command line (``actor`` None).
    """
    if member.password_hash is not None:
        return False
    exists = await db.scalar(select(Activation.id).where(Activation.member_id == member.id, open_now()))
    if exists is not None:
        return False
    if (
        actor is not None
        and not actor.is_platform_admin
        and await belongs_elsewhere(db, member, community_id)
    ):
        return False
    await issue(db, community_id, member.id, secret_key, actor.member_id if actor else None)
    return True


async def belongs_elsewhere(db: AsyncSession, member: Member, community_id: uuid.UUID) -> bool:
    elsewhere = await db.scalar(
        select(Membership.id).where(
            Membership.member_id == member.id, Membership.community_id != community_id
        )
    )
    return member.is_platform_admin or elsewhere is not None
