"""The audit log page: a community's admins read its staff acts; platform admins read every community's."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.accounts.models import Community
from service.audit import views as audit_views
from service.config import LIST_LIMIT_DEFAULT
from service.web.guards import admin_community, lenient_cursor, next_cursor
from service.web.pages import N_, ROLE_NAMES
from service.web.render import page

__all__ = ["ACTION_NAMES", "ADMIN_LINKS", "ROUTES"]

ACTION_NAMES = {
    "award_requested": N_("Award requested"),
    "award_approved": N_("Award approved"),
    "award_rejected": N_("Award rejected"),
    "transfer_reversed": N_("Transfer corrected"),
    "manual_attendance_approved": N_("Manual attendance approved"),
    "manual_attendance_rejected": N_("Manual attendance rejected"),
    "role_granted": N_("Role granted"),
    "role_removed": N_("Role removed"),
    "password_set": N_("Password set"),
    "phone_changed": N_("Phone changed"),
    "name_changed": N_("Name changed"),
    "members_imported": N_("Members imported"),
    "community_created": N_("Community created"),
    "self_registration_changed": N_("Sign-up mode changed"),
    "registration_approved": N_("Sign-up approved"),
    "registration_rejected": N_("Sign-up rejected"),
    "activation_issued": N_("Activation code issued"),
    "partner_created": N_("Partner shop added"),
    "points_policy_changed": N_("Points policy changed"),
    "activity_created": N_("Activity created"),
    "activity_updated": N_("Activity changed"),
    "activity_approved": N_("Activity approved"),
    "activity_cancelled": N_("Activity cancelled"),
    "activity_closed": N_("Activity closed"),
    "activity_policy_changed": N_("Activity points cap changed"),
    "card_scanned": N_("Member card scanned"),
    "offline_scans_synced": N_("Offline scans uploaded"),
    "scanner_assigned": N_("Scanning helper named"),
    "scanner_removed": N_("Scanning helper removed"),
    "offline_scan_resolved": N_("Offline scan resolved"),
    "poster_revoked": N_("Check-in poster revoked"),
    "manual_attendance_requested": N_("Manual attendance recorded"),
    "team_created": N_("Team created"),
    "team_member_added": N_("Team member added"),
    "store_settings_changed": N_("Store settings changed"),
    "product_created": N_("Product added"),
    "product_updated": N_("Product changed"),
    "product_image_set": N_("Product picture changed"),
    "order_picked_up": N_("Order handed out"),
    "order_cancelled": N_("Order cancelled by staff"),
    "offer_created": N_("Offer created"),
    "voucher_redeemed": N_("Voucher redeemed"),
    "rule_created": N_("Good-conduct rule created"),
    "rule_updated": N_("Good-conduct rule changed"),
    "rewards_settings_changed": N_("Review and wish settings changed"),
    "claim_filed": N_("Claim filed for a member"),
    "correction_requested": N_("Correction of an attendance record requested"),
    "correction_approved": N_("Correction of an attendance record approved"),
    "correction_rejected": N_("Correction of an attendance record rejected"),
    "account_secured": N_("Account secured with an SMS code"),
    "claim_approved": N_("Claim approved"),
    "claim_rejected": N_("Claim rejected"),
    "wish_dispatched": N_("Wish dispatched"),
    "wish_confirmed": N_("Wish confirmed"),
    "wish_accepted": N_("Wish accepted: its address shown to the volunteer"),
    "wish_call_bound": N_("Privacy number bound for a wish's call"),
    "household_link_confirmed": N_("Household link confirmed"),
    "household_link_rejected": N_("Household link rejected"),
    "household_link_removed": N_("Household link removed"),
    "region_created": N_("Region created"),
    "community_region_set": N_("Community moved in the region tree"),
    "official_added": N_("Official added"),
    "official_removed": N_("Official removed"),
    "policy_change_proposed": N_("Policy change proposed"),
    "policy_change_approved": N_("Policy change approved"),
    "policy_change_rejected": N_("Policy change rejected"),
    "policy_change_withdrawn": N_("Policy change withdrawn"),
    "policy_narrowed": N_("Policy tightened"),
    "policy_unchanged": N_("Policy submitted unchanged"),
    "privacy_accepted": N_("Privacy notice accepted"),
    "personal_data_exported": N_("Own data downloaded"),
    "data_correction_requested": N_("Correction of name or phone requested"),
    "data_correction_granted": N_("Correction of name or phone granted"),
    "data_correction_refused": N_("Correction of name or phone refused"),
    "deletion_requested": N_("Account deletion requested"),
    "deletion_granted": N_("Account deleted (pseudonymised)"),
    "deletion_refused": N_("Account deletion refused"),
    "certificate_issued": N_("Service certificate issued"),
    "certificate_voided": N_("Service certificate voided"),
    "hours_exported": N_("Service hours exported (with ID numbers)"),
    "issuer_settings_changed": N_("Certificate issuer details changed"),
}
"""Actions in plain words (English msgids; the template translates them). Unknown actions show as is."""

ADMIN_LINKS = [("/admin/audit", N_("Audit log"))]


async def _community(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: str | None
) -> Community | None:
    """The community whose log is read; none (every community's) for a platform admin who chose none."""
    if community or not actor.is_platform_admin:
        return await admin_community(request, db, actor, community)
    return None


@get("/admin/audit", include_in_schema=False)
async def audit_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    community: Annotated[str | None, Parameter(max_length=64)] = None,
    cursor: Annotated[str | None, Parameter(max_length=200)] = None,
) -> Response[str]:
    chosen = await _community(request, db, actor, community)
    cid, before = (chosen.id if chosen else None), lenient_cursor(cursor)
    log = await audit_views.audit_log(db, actor, cid, LIST_LIMIT_DEFAULT, before)
    return page(request, "admin/audit.html", actor, community=chosen, **_log_context(log))


def _log_context(log: audit_views.AuditLog) -> dict[str, Any]:
    return {
        "communities": log.communities,
        "events": log.events,
        "action_names": ACTION_NAMES,
        "role_names": ROLE_NAMES,
        "next_cursor": next_cursor(log.last),
    }


ROUTES: list[Any] = [audit_page]
