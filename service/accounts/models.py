"""Tables of the accounts domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.config import NAME_MAX
from service.db import Base, IdMixin, TimestampMixin

__all__ = [
    "KNOB_MAX",
    "PARTNER_KINDS",
    "PROPOSAL_STATUSES",
    "ROLES",
    "SELF_REGISTRATION",
    "Activation",
    "ActivationStatus",
    "Community",
    "HouseholdPeriod",
    "LoginFailure",
    "Member",
    "MemberRequest",
    "MemberRequestKind",
    "MemberRequestStatus",
    "Membership",
    "Partner",
    "PartnerKind",
    "PolicyProposal",
    "PrivacyConsent",
    "ProposalStatus",
    "Registration",
    "RegistrationStatus",
    "Role",
    "SelfRegistration",
    "SmsCode",
]

Role = Literal["admin", "organizer", "clerk", "reviewer", "partner", "member"]
ROLES: tuple[Role, ...] = get_args(Role)
SelfRegistration = Literal["off", "auto", "approval"]
SELF_REGISTRATION: tuple[SelfRegistration, ...] = get_args(SelfRegistration)
"""How a community takes sign-ups: none, at once, or pending an admin's approval."""
ActivationStatus = Literal["open", "used", "replaced"]
RegistrationStatus = Literal["pending", "approved", "rejected"]


class Community(IdMixin, TimestampMixin, Base):
    """A street, community or village that runs its own points economy."""

    __tablename__ = "communities"

    name: Mapped[str] = mapped_column(String(NAME_MAX))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    self_registration: Mapped[SelfRegistration] = mapped_column(String(16), default="auto")
    """``off``, ``auto`` or ``approval``: whether residents may sign themselves up (see SELF_REGISTRATION)."""

    __table_args__ = (
        CheckConstraint("self_registration IN ('off','auto','approval')", name="self_registration_known"),
    )

    @property
    def allow_registration(self) -> bool:
        """The API's older yes/no view of :attr:`self_registration`."""
        return self.self_registration != "off"


class Member(IdMixin, TimestampMixin, Base):
    """A person. One account across communities; roles are per community."""

    __tablename__ = "members"

    phone: Mapped[str] = mapped_column(String(11), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    password_hash: Mapped[str | None] = mapped_column(String(256), default=None)
    is_platform_admin: Mapped[bool] = mapped_column(default=False)
    token_version: Mapped[int] = mapped_column(default=0)
    """Bumped on logout and password change: every older token stops working."""
    phone_verified_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the person proved the phone is theirs (an SMS code, an office's invitation card, or staff
    created the account). A self-made account without it is never joined to a community by an admin."""
    held_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None, index=True)
    """Who else has known this account's password: the community admin who issued the one-time code it
    was last set with (or who created it with a password). Cleared when the person sets a new password
    with an SMS code sent to their own phone (``onboarding.secure_account``). A held account decides
    nothing for others and its holder decides nothing for it (``households.conflicted``). Platform
    admins, the root of trust, hold nobody."""
    held_since: Mapped[datetime | None] = mapped_column(default=None)


PartnerKind = Literal["shop", "service", "health", "fitness", "other"]
PARTNER_KINDS: tuple[PartnerKind, ...] = get_args(PartnerKind)


class Partner(IdMixin, TimestampMixin, Base):
    """A shop or unit of an alliance (商家联盟): of one community, or of a region (a street or above),
    whose offers every community under it sees. Its staff hold the ``partner`` role: in its community,
    or (a region's unit) in every community of the region (``accounts.service.grant_unit_staff``)."""

    __tablename__ = "partners"

    community_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("communities.id"), index=True, default=None
    )
    region_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("regions.id"), index=True, default=None)
    """The region whose communities the unit serves (the region tree is the regions domain's; accounts
    only reads which communities sit under it, in :func:`service.accounts.views.partners_serving`)."""
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    address: Mapped[str | None] = mapped_column(String(200), default=None)
    kind: Mapped[PartnerKind] = mapped_column(String(16), default="shop")
    hours: Mapped[str | None] = mapped_column(String(100), default=None)
    """Opening hours as the unit writes them (``周一至周六 8:00-20:00``)."""
    monthly_quota: Mapped[int | None] = mapped_column(default=None)
    """Vouchers the unit gives out per calendar month over all its offers; ``None`` is no limit."""
    active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (
        UniqueConstraint("community_id", "name"),
        UniqueConstraint("region_id", "name"),
        CheckConstraint("(community_id IS NULL) <> (region_id IS NULL)", name="one_owner"),
        CheckConstraint("kind IN ('shop','service','health','fitness','other')", name="known_kind"),
        CheckConstraint("monthly_quota IS NULL OR monthly_quota > 0", name="quota_positive"),
    )


class Membership(IdMixin, TimestampMixin, Base):
    """One role of one member in one community."""

    __tablename__ = "memberships"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), index=True)
    role: Mapped[Role] = mapped_column(String(16))
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"), default=None)

    __table_args__ = (
        UniqueConstraint("community_id", "member_id", "role", name="role_once"),
        CheckConstraint(
            "role IN ('admin','organizer','clerk','reviewer','partner','member')", name="known_role"
        ),
        CheckConstraint("(role = 'partner') = (partner_id IS NOT NULL)", name="partner_bound"),
        Index("ix_memberships_community_role", "community_id", "role"),
    )


class LoginFailure(Base):
    """Failed logins per key (``phone:…`` or ``ip:…``) in the current window, for throttling."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime]


class Activation(IdMixin, TimestampMixin, Base):
    """A one-time code that lets a member set their own password (invitation card or reset).

    Only a hash of the code is stored; the code itself is derived from the row id and the secret key,
    so the office can print the card again without the database ever holding the code.
    """

    __tablename__ = "activations"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[ActivationStatus] = mapped_column(String(16), default="open")
    expires_at: Mapped[datetime]
    issued_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    roles_snapshot: Mapped[str | None] = mapped_column(String(64), default=None)
    """A hash of the person's roles when the code was issued: once they change, the code is void."""

    __table_args__ = (
        CheckConstraint("status IN ('open','used','replaced')", name="known_status"),
        Index("ix_activations_community_status", "community_id", "status"),
    )


class SmsCode(IdMixin, TimestampMixin, Base):
    """The current one-time SMS login code of a phone (its hash), with the wrong guesses so far."""

    __tablename__ = "sms_codes"

    phone: Mapped[str] = mapped_column(String(11), unique=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)

    __table_args__ = (CheckConstraint("attempts >= 0", name="attempts_not_negative"),)


class Registration(IdMixin, TimestampMixin, Base):
    """A resident's self sign-up to a community that wants an admin's approval first."""

    __tablename__ = "registrations"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), index=True)
    status: Mapped[RegistrationStatus] = mapped_column(String(16), default="pending")
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        UniqueConstraint("community_id", "member_id", name="registration_once"),
        CheckConstraint("status IN ('pending','approved','rejected')", name="known_status"),
        Index("ix_registrations_community_status", "community_id", "status"),
    )


ProposalStatus = Literal["pending", "approved", "rejected", "withdrawn", "superseded"]
PROPOSAL_STATUSES: tuple[ProposalStatus, ...] = get_args(ProposalStatus)
KNOB_MAX = 40


class PolicyProposal(IdMixin, TimestampMixin, Base):
    """A change to a policy knob that widens what can be issued or who can act, waiting for a second person.

    ``before`` is the knob's value when it was proposed; approving applies exactly ``after``, and only while
    the knob still holds ``before`` (otherwise the proposal is stale). Rows are never deleted."""

    __tablename__ = "policy_proposals"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    proposed_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    knob: Mapped[str] = mapped_column(String(KNOB_MAX))
    target_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    """The rule or product the knob belongs to; None for a community-wide setting."""
    before: Mapped[dict[str, Any]] = mapped_column(JSON)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[ProposalStatus] = mapped_column(String(16), default="pending")
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        CheckConstraint(
            "status IN ('pending','approved','rejected','withdrawn','superseded')", name="known_status"
        ),
        CheckConstraint("decided_by IS NULL OR decided_by <> proposed_by", name="not_own"),
        Index("ix_policy_proposals_community_status", "community_id", "status"),
    )


class HouseholdPeriod(IdMixin, TimestampMixin, Base):
    """A span of time two members were a confirmed household (户) in a community, kept after it ends.

    Conflicts of interest read these ("linked at any time since the claim began"), so ending a link
    before deciding lifts nothing. The request and confirmation workflow lives in ``service.rewards``.
    """

    __tablename__ = "household_periods"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    member_a: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    member_b: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    linked_at: Mapped[datetime]
    unlinked_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        CheckConstraint("member_a <> member_b", name="two_people"),
        CheckConstraint("unlinked_at IS NULL OR unlinked_at >= linked_at", name="ordered"),
        Index("ix_household_periods_a", "community_id", "member_a"),
        Index("ix_household_periods_b", "community_id", "member_b"),
    )


MemberRequestKind = Literal["correction", "deletion"]
MemberRequestStatus = Literal["pending", "granted", "refused"]
REASON_MAX = 500


class PrivacyConsent(IdMixin, TimestampMixin, Base):
    """A person accepted one version of the privacy notice (个人信息保护法): who, which version, when.

    Kept after a granted deletion (pseudonymised with the member row) as the record that the notice
    was shown."""

    __tablename__ = "privacy_consents"

    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), index=True)
    version: Mapped[str] = mapped_column(String(16))
    accepted_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("member_id", "version", name="consent_once"),)


class MemberRequest(IdMixin, TimestampMixin, Base):
    """A resident asks their community to correct their name or phone, or to delete their account.

    An admin of the community (never the requester) grants or refuses it before ``due_at``."""

    __tablename__ = "member_requests"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), index=True)
    kind: Mapped[MemberRequestKind] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(REASON_MAX), default="")
    new_name: Mapped[str | None] = mapped_column(String(NAME_MAX), default=None)
    new_phone: Mapped[str | None] = mapped_column(String(11), default=None)
    status: Mapped[MemberRequestStatus] = mapped_column(String(16), default="pending")
    due_at: Mapped[datetime]
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decision_note: Mapped[str | None] = mapped_column(String(REASON_MAX), default=None)

    __table_args__ = (
        CheckConstraint("kind IN ('correction','deletion')", name="known_kind"),
        CheckConstraint("status IN ('pending','granted','refused')", name="known_status"),
        CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name="decided_bound"),
        CheckConstraint("decided_by IS NULL OR decided_by <> member_id", name="second_person"),
        Index("ix_member_requests_community_status", "community_id", "status"),
    )
