"""Every /api/v1 route checks the caller's role in the community that owns the resource.

The routes come from the app's own route table, so a new route without a line in ``EXPECT`` fails
``test_every_api_route_has_an_expectation``. Each route is called by every role with its path
parameters pointing at community A's resources; a second community B supplies an outsider admin and
an outsider member (tests/support/matrix.py). A cell either allows the role or names its refusal:
- an allowed role, given a fresh resource it may act on (``prep``) and a valid body, must get a 2xx
  (202 where a widening change becomes a proposal);
- a refused role must get the cell's status and error ``code``, and the database must be as it was: every
  table's row count and a digest of its rows (the ledger's sums and the audit log among them) are taken
  around each refusal; only the tables a case names in ``counted`` (the login throttle) may change.

To add a route: add ``"METHOD /api/v1/path/{param}": Case(...)`` to ``EXPECT``: ``allow`` lists the roles
that pass, ``body`` builds a valid request body (refusals must not be hidden behind a 422), ``prep`` makes
what an allowed role acts on (an award to decide, a wish offered to that role, ...), ``deny`` overrides the
refusal status for a role (default: 401 anonymous, 403 everyone else) and ``codes`` its error code
(default: the status's, ``DENY_CODES``).
"""

from __future__ import annotations

import hashlib
import itertools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from service import clock
from service.accounts.models import LoginFailure
from service.accounts.rules import PRIVACY_NOTICE_VERSION
from service.accounts.sms import last_text_to
from service.activities.rules import POINTS_CAP_DEFAULT
from service.db import Base
from tests.support.matrix import (
    A_PEOPLE,
    EVERYONE,
    LOGGED_IN,
    ROLES,
    STAFF,
    Res,
)
from tests.support.matrix import (
    activity_body as _activity_body,
)
from tests.support.matrix import (
    new_activity as _new_activity,
)
from tests.support.matrix import (
    ok as _ok,
)
from tests.support.matrix import (
    people as _people,
)
from tests.support.matrix import (
    png as _png,
)
from tests.support.matrix import (
    post as _post,
)
from tests.support.matrix import (
    poster as _poster,
)
from tests.support.matrix import (
    resources as _resources,
)
from tests.support.matrix import (
    t as _t,
)
from tests.support.matrix import (
    tokens as _tokens,
)
from tests.support.world import World

Body = Callable[["Res", str], Any]
RolePrep = Callable[[Any, "Res", str], Any]

DENY_CODES = {401: "not_authenticated", 403: "forbidden", 404: "not_found"}
"""The error code a refusal's status implies unless ``Case.codes`` says otherwise."""


@dataclass
class Case:
    allow: tuple[str, ...]
    body: Body | None = None
    deny: dict[str, int] = field(default_factory=dict)
    raw: bool = False
    """Send ``body`` as raw bytes (uploads) instead of JSON."""
    prep: RolePrep | None = None
    """``async prep(client, res, role)``: a fresh resource ``role`` may act on (made for the first allowed
    role before the refusals, so they are tried on something the allowed role could change, then again
    before each further allowed role)."""
    codes: dict[str, str] = field(default_factory=dict)
    """A refused role's error code, where it is not the one its status implies (``DENY_CODES``)."""
    counted: tuple[str, ...] = ()
    """Tables a refusal may change: the throttle's counters (every wrong guess counts)."""


_DAYS_BACK = itertools.count(1)


def _claim_day() -> str:
    """Another day of a deed (one claim per rule, beneficiary and day)."""
    return (clock.now() - timedelta(days=next(_DAYS_BACK))).date().isoformat()


NOT_REQUESTER = {role: "not_requester" for role in LOGGED_IN if role != "member"}
"""Only the person who posted a wish cancels or rates it."""
THROTTLE = ("login_failures",)
"""The login counters: a wrong password or code counts even though it is refused."""
HIDDEN = {role: 404 for role in ROLES if role != "anonymous"}
"""Refusals that say "no such thing" rather than "not yours"."""


def hidden(code: str) -> dict[str, str]:
    """The error code of every ``HIDDEN`` refusal."""
    return dict.fromkeys(HIDDEN, code)


PROPOSAL_HIDDEN = {"other_admin": 404, "outsider": 404}
PROPOSAL_CODES = {"other_admin": "proposal_not_found", "outsider": "proposal_not_found"}
NOT_APPROVER = PROPOSAL_CODES | {role: "not_approver" for role in ("member", *STAFF) if role != "admin"}
"""Deciding a proposal: another admin of the community (or an official above it)."""
BUDGET = {role: "budget_not_yours" for role in LOGGED_IN}
"""The budget is the officials' (and the platform admin's): nobody in a community sets it."""

EXPECT: dict[str, Case] = {
    # ---------------------------------------------------------------- accounts
    # A wrong password is 401 whoever asks (the answer never depends on the caller's login).
    "POST /api/v1/auth/login": Case(
        (),
        body=lambda r, role: {"phone": f"1570000{ROLES.index(role):04d}", "password": "wrong-pass-1"},
        deny={role: 401 for role in ROLES},
        codes=dict.fromkeys(ROLES, "invalid_credentials"),
        counted=THROTTLE,
    ),
    # Signing up needs the code texted to the phone: a wrong one signs nobody up, whoever asks.
    "POST /api/v1/auth/register": Case(
        (),
        body=lambda r, role: {
            "phone": f"1580000{ROLES.index(role):04d}",
            "name": "新人",
            "password": "new-pass-123",
            "sms_code": "000000",
            "community_id": str(r.w.cid),
        },
        deny={role: 401 for role in ROLES},
        codes=dict.fromkeys(ROLES, "sms_code_invalid"),
        counted=THROTTLE,
    ),
    # Anyone may ask for a code (the reply never says whether the number has an account); a wrong code
    # logs nobody in, whoever asks.
    "POST /api/v1/auth/sms-code": Case(
        EVERYONE, body=lambda r, role: {"phone": f"1570001{ROLES.index(role):04d}"}
    ),
    "POST /api/v1/auth/sms-login": Case(
        (),
        body=lambda r, role: {"phone": f"1570001{ROLES.index(role):04d}", "code": "000000"},
        deny={role: 401 for role in ROLES},
        codes=dict.fromkeys(ROLES, "sms_code_invalid"),
        counted=(*THROTTLE, "sms_codes"),  # a wrong guess also counts against the code texted
    ),
    # The one-time code is the credential: whoever holds it sees whose it is (masked).
    "GET /api/v1/auth/activations/{code}": Case(EVERYONE),
    "POST /api/v1/auth/activate": Case(
        (),
        body=lambda r, role: {"code": f"forged-{role}", "password": "new-pass-123"},
        deny={role: 422 for role in ROLES},
        codes=dict.fromkeys(ROLES, "activation_invalid"),
        counted=THROTTLE,
    ),
    "POST /api/v1/auth/logout": Case(LOGGED_IN),
    "GET /api/v1/me": Case(LOGGED_IN),
    "POST /api/v1/me/password": Case(LOGGED_IN, body=lambda r, role: {"password": "changed-pass-1"}),
    "POST /api/v1/communities": Case((), body=lambda r, role: {"name": "新社区", "code": f"new-{role[:5]}"}),
    "GET /api/v1/communities/{cid}": Case(EVERYONE),
    "PATCH /api/v1/communities/{cid}": Case(
        ("admin",), body=lambda r, role: {"self_registration": "approval"}
    ),
    "GET /api/v1/communities/{cid}/registrations": Case(("admin",)),
    "POST /api/v1/registrations/{rid}/approve": Case(
        ("admin",), prep=lambda c, r, role: _new_registration(c, r)
    ),
    "POST /api/v1/registrations/{rid}/reject": Case(
        ("admin",), prep=lambda c, r, role: _new_registration(c, r)
    ),
    "POST /api/v1/communities/{cid}/members/{mid}/activation": Case(("admin",)),
    "GET /api/v1/communities/{cid}/members": Case(("organizer", "clerk", "reviewer", "admin")),
    "POST /api/v1/communities/{cid}/members": Case(
        ("admin",), body=lambda r, role: {"phone": "15900000077", "name": "新成员", "role": "member"}
    ),
    "POST /api/v1/communities/{cid}/members/import": Case(
        ("admin",), body=lambda r, role: "15900000078,导入\n".encode(), raw=True
    ),
    "PATCH /api/v1/communities/{cid}/members/{mid}": Case(
        ("admin",), body=lambda r, role: {"name": "卡罗尔"}
    ),
    # Community admins issue a one-time code instead (reset_by_code); only a platform admin sets one.
    "POST /api/v1/communities/{cid}/members/{mid}/password": Case(
        (), body=lambda r, role: {"password": "reset-pass-12"}, codes={"admin": "reset_by_code"}
    ),
    "DELETE /api/v1/communities/{cid}/members/{mid}/roles/{role}": Case(("admin",)),
    "GET /api/v1/communities/{cid}/partners": Case(A_PEOPLE),
    "POST /api/v1/communities/{cid}/partners": Case(("admin",), body=lambda r, role: {"name": f"新店{role}"}),
    # ---------------------------------------------------------------- audit
    "GET /api/v1/communities/{cid}/audit": Case(("admin",)),
    "GET /api/v1/audit": Case(()),
    # ---------------------------------------------------------------- points
    "GET /api/v1/me/balance": Case(A_PEOPLE),
    "GET /api/v1/me/entries": Case(A_PEOPLE),
    "POST /api/v1/communities/{cid}/awards": Case(
        ("admin",), body=lambda r, role: {"member_id": r["bob"], "points": 1, "reason": "帮忙"}
    ),
    "GET /api/v1/communities/{cid}/awards": Case(("admin",)),
    "POST /api/v1/awards/{aid}/approve": Case(("admin",), prep=lambda c, r, role: _new_award(c, r)),
    "POST /api/v1/awards/{aid}/reject": Case(("admin",), prep=lambda c, r, role: _new_award(c, r)),
    "GET /api/v1/communities/{cid}/ledger/verify": Case(("admin",)),
    "POST /api/v1/communities/{cid}/transfers/{tid}/reverse": Case(
        ("admin",), body=lambda r, role: {"memo": "更正"}, prep=lambda c, r, role: _new_transfer(c, r)
    ),
    "GET /api/v1/communities/{cid}/points-policy": Case(A_PEOPLE),
    "PUT /api/v1/communities/{cid}/points-policy": Case(
        ("admin",), body=lambda r, role: {"expiry_mode": "never"}
    ),
    # ---------------------------------------------------------------- policy proposals
    # Staff read what waits; another admin of the community decides (the proposal is admin2's); only
    # its proposer withdraws. Another community's people do not learn it exists.
    "GET /api/v1/communities/{cid}/proposals": Case(("organizer", "clerk", "reviewer", "admin")),
    "POST /api/v1/proposals/{pid}/approve": Case(
        ("admin",), deny=PROPOSAL_HIDDEN, codes=NOT_APPROVER, prep=lambda c, r, role: _new_proposal(c, r)
    ),
    "POST /api/v1/proposals/{pid}/reject": Case(
        ("admin",), deny=PROPOSAL_HIDDEN, codes=NOT_APPROVER, prep=lambda c, r, role: _new_proposal(c, r)
    ),
    "POST /api/v1/proposals/{pid}/withdraw": Case(
        (),
        deny=PROPOSAL_HIDDEN,
        codes=PROPOSAL_CODES | {r: "not_proposer" for r in A_PEOPLE},
        prep=lambda c, r, role: _new_proposal(c, r),
    ),
    # ---------------------------------------------------------------- activities
    "POST /api/v1/communities/{cid}/activities": Case(("organizer", "admin"), body=_activity_body),
    "GET /api/v1/communities/{cid}/activities": Case(A_PEOPLE),
    "GET /api/v1/activities/{aid}": Case(A_PEOPLE),
    "PATCH /api/v1/activities/{aid}": Case(
        ("organizer", "admin"),
        body=lambda r, role: {"title": "清扫小区"},
        prep=lambda c, r, role: _new_activity(c, r),
    ),
    "GET /api/v1/activities/{aid}/attendance": Case(("organizer", "admin")),
    "POST /api/v1/activities/{aid}/cancel": Case(
        ("organizer", "admin"), prep=lambda c, r, role: _new_activity(c, r)
    ),
    # Above the points cap an admin other than its creator opens the activity.
    "POST /api/v1/activities/{aid}/approve": Case(
        ("admin",), prep=lambda c, r, role: _pending_activity(c, r)
    ),
    "GET /api/v1/communities/{cid}/activity-policy": Case(A_PEOPLE),
    "PUT /api/v1/communities/{cid}/activity-policy": Case(
        ("admin",), body=lambda r, role: {"points_cap": POINTS_CAP_DEFAULT}
    ),
    "POST /api/v1/activities/{aid}/card-scans": Case(
        ("organizer", "admin"),
        body=lambda r, role: {"card_token": r["card_token"]},
        prep=lambda c, r, role: _new_activity(c, r),
    ),
    "POST /api/v1/activities/{aid}/close": Case(
        ("organizer", "admin"), prep=lambda c, r, role: _new_activity(c, r)
    ),
    "GET /api/v1/activities/{aid}/kiosk": Case(("organizer", "admin")),
    "POST /api/v1/activities/{aid}/manual-checkins": Case(
        ("organizer", "admin"),
        body=lambda r, role: {
            "member_id": r["bob"],
            "checked_in_at": _t(-50),
            "checked_out_at": _t(-10),
            "note": "忘带手机",
        },
        prep=lambda c, r, role: _new_activity(c, r),
    ),
    "POST /api/v1/activities/{aid}/poster/revoke": Case(("organizer", "admin")),
    "GET /api/v1/activities/{aid}/qr.png": Case(("organizer", "admin")),
    "GET /api/v1/activities/{aid}/qr.svg": Case(("organizer", "admin")),
    "POST /api/v1/activities/{aid}/signups": Case(A_PEOPLE, prep=lambda c, r, role: _upcoming_activity(c, r)),
    "POST /api/v1/attendance/{att_id}/approve": Case(
        ("organizer", "admin"), prep=lambda c, r, role: _new_manual(c, r)
    ),
    "POST /api/v1/attendance/{att_id}/reject": Case(
        ("organizer", "admin"), prep=lambda c, r, role: _new_manual(c, r)
    ),
    # The poster's token of a running activity checks in whoever scans it.
    "POST /api/v1/checkins": Case(
        A_PEOPLE, body=lambda r, role: {"token": r["poster_token"]}, prep=lambda c, r, role: _poster(c, r)
    ),
    "GET /api/v1/me/card": Case(A_PEOPLE),
    "POST /api/v1/me/card/revoke": Case(A_PEOPLE),
    # ---------------------------------------------------------------- offline check-in (issue 23)
    # One's own signed personal code (it names no community); an activity's organizers download its
    # kit, upload the scans made offline, and resolve the refused ones (another organizer's upload).
    "GET /api/v1/me/code": Case(LOGGED_IN),
    "POST /api/v1/me/code/revoke": Case(LOGGED_IN),
    # The matrix's clerk is named to scan nowhere: refused the kit and the sync like any other staff.
    # (A fresh activity: the scanners case below names the clerk to the one it makes.)
    "GET /api/v1/activities/{aid}/offline-kit": Case(
        ("organizer", "admin"), prep=lambda c, r, role: _new_activity(c, r)
    ),
    "GET /api/v1/activities/{aid}/offline-scans": Case(("organizer", "admin")),
    "POST /api/v1/scans/sync": Case(
        ("organizer", "admin"),
        body=lambda r, role: _sync_body(r),
        prep=lambda c, r, role: _new_activity(c, r),
    ),
    "POST /api/v1/offline-scans/{scan_id}/resolve": Case(
        ("organizer", "admin"),
        body=lambda r, role: {"action": "dismiss"},
        prep=lambda c, r, role: _new_offline_scan(c, r),
    ),
    # Scanning helpers: an activity's organizers name the community's clerks to scan at it.
    "GET /api/v1/activities/{aid}/scanners": Case(("organizer", "admin")),
    "POST /api/v1/activities/{aid}/scanners": Case(
        ("organizer", "admin"),
        body=lambda r, role: {"member_id": r["clerk_id"]},
        prep=lambda c, r, role: _new_activity(c, r),
    ),
    "DELETE /api/v1/activities/{aid}/scanners/{member_id}": Case(
        ("organizer", "admin"), prep=lambda c, r, role: _new_scanner(c, r)
    ),
    "GET /api/v1/me/hours": Case(A_PEOPLE),
    "GET /api/v1/communities/{cid}/teams": Case(A_PEOPLE),
    "POST /api/v1/communities/{cid}/teams": Case(
        ("organizer", "admin"), body=lambda r, role: {"name": f"队{role}", "leader_id": r["bob"]}
    ),
    "POST /api/v1/teams/{tid}/members": Case(
        ("organizer", "admin"), body=lambda r, role: {"member_id": r["bob"]}
    ),
    # ---------------------------------------------------------------- store
    "POST /api/v1/communities/{cid}/products": Case(
        ("clerk", "admin"), body=lambda r, role: {"name": f"米{role}", "points": 5, "stock": 3}
    ),
    "GET /api/v1/communities/{cid}/products": Case(A_PEOPLE),
    "PATCH /api/v1/products/{pid}": Case(("clerk", "admin"), body=lambda r, role: {"stock_delta": 1}),
    "PUT /api/v1/products/{pid}/image": Case(("clerk", "admin"), body=lambda r, role: _png(), raw=True),
    "GET /api/v1/products/{pid}/image": Case(EVERYONE),
    "GET /api/v1/products/{pid}/thumb": Case(EVERYONE),
    "GET /api/v1/communities/{cid}/store-settings": Case(A_PEOPLE),
    "PUT /api/v1/communities/{cid}/store-settings": Case(("admin",), body=lambda r, role: {"order_days": 3}),
    "POST /api/v1/orders": Case(A_PEOPLE, body=lambda r, role: {"product_id": r["product"], "quantity": 1}),
    "POST /api/v1/orders/pickup": Case(
        ("clerk", "admin"),
        body=lambda r, role: {"pickup_code": r["pickup_code"]},
        prep=lambda c, r, role: _new_order(c, r, "pickup_code"),
    ),
    # An order is shown only to its member and the store's staff; everyone else is told it does not exist.
    "GET /api/v1/orders/{oid}": Case(
        ("member", "clerk", "admin"), deny=HIDDEN, codes=hidden("order_not_found")
    ),
    # The QR carries the pickup code: its member's alone.
    "GET /api/v1/orders/{oid}/qr.png": Case(("member",), deny=HIDDEN, codes=hidden("order_not_found")),
    "POST /api/v1/orders/{oid}/cancel": Case(
        ("member", "clerk", "admin"), prep=lambda c, r, role: _new_order(c, r, "id", "order")
    ),
    "GET /api/v1/me/orders": Case(A_PEOPLE),
    "GET /api/v1/communities/{cid}/orders": Case(("clerk", "admin")),
    "POST /api/v1/partners/{pid}/offers": Case(
        ("partner", "admin"), body=lambda r, role: {"title": f"九折{role}", "points": 5}
    ),
    "GET /api/v1/partners/{pid}/offers": Case(("partner", "admin")),
    "GET /api/v1/communities/{cid}/offers": Case(A_PEOPLE),
    "POST /api/v1/offers/{oid}/vouchers": Case(A_PEOPLE),
    # Only that shop's staff redeem; to anyone else no voucher of *their* shop has the code.
    "POST /api/v1/vouchers/redeem": Case(
        ("partner", "admin"),
        body=lambda r, role: {"code": r["voucher_code"]},
        deny=HIDDEN,
        codes=hidden("voucher_not_found"),
        prep=lambda c, r, role: _new_voucher(c, r, "code", "voucher_code"),
    ),
    "POST /api/v1/vouchers/{vid}/cancel": Case(("member",), deny=HIDDEN, codes=hidden("voucher_not_found")),
    # The QR carries the code: its member's alone (the shop's lists show it masked).
    "GET /api/v1/vouchers/{vid}/qr.png": Case(("member",), deny=HIDDEN, codes=hidden("voucher_not_found")),
    "GET /api/v1/me/vouchers": Case(A_PEOPLE),
    "GET /api/v1/partners/{pid}/vouchers": Case(("partner", "admin")),
    "GET /api/v1/partners/{pid}/settlement": Case(("partner", "admin")),
    "GET /api/v1/communities/{cid}/partner-report": Case(("admin",)),
    # ---------------------------------------------------------------- rewards
    # Asked with include_inactive=true (see query_for): the full catalogue is for admins and reviewers.
    "GET /api/v1/communities/{cid}/rules": Case(("reviewer", "admin")),
    "POST /api/v1/communities/{cid}/rules": Case(
        ("admin",), body=lambda r, role: {"code": f"r-{role[:5]}", "title": "孝老", "points": 5}
    ),
    "PATCH /api/v1/rules/{rule_id}": Case(("admin",), body=lambda r, role: {"title": "零彩礼婚事"}),
    "GET /api/v1/communities/{cid}/rewards-settings": Case(A_PEOPLE),
    "PUT /api/v1/communities/{cid}/rewards-settings": Case(
        ("admin",), body=lambda r, role: {"wish_points": 5}
    ),
    "POST /api/v1/claims": Case(
        A_PEOPLE,
        body=lambda r, role: {
            "rule_id": r["rule"],
            "member_id": r[role + "_id"],
            "evidence": "邻居作证",
            "event_date": _claim_day(),
        },
    ),
    # Staff who may file claims for others (organizers) read them too.
    "GET /api/v1/claims/{claim_id}": Case(("member", "organizer", "reviewer", "admin")),
    "POST /api/v1/claims/{claim_id}/objections": Case(
        A_PEOPLE,
        body=lambda r, role: {"reason": "不属实"},
        prep=lambda c, r, role: _new_claim(c, r, publicized=True),
    ),
    "POST /api/v1/claims/{claim_id}/photos": Case(("member",), body=lambda r, role: _png(), raw=True),
    "GET /api/v1/claims/{claim_id}/photos/{photo_id}": Case(("member", "organizer", "reviewer", "admin")),
    "POST /api/v1/claims/{claim_id}/review": Case(
        ("reviewer", "admin"),
        body=lambda r, role: {"decision": "reject"},
        prep=lambda c, r, role: _new_claim(c, r),
    ),
    "GET /api/v1/communities/{cid}/claims": Case(A_PEOPLE),
    "GET /api/v1/communities/{cid}/claims/review-queue": Case(("reviewer", "admin")),
    "GET /api/v1/communities/{cid}/board": Case(EVERYONE),
    "POST /api/v1/communities/{cid}/wishes": Case(A_PEOPLE, body=lambda r, role: {"title": f"修水管{role}"}),
    "GET /api/v1/communities/{cid}/wishes": Case(A_PEOPLE),
    "GET /api/v1/communities/{cid}/wishes/stats": Case(("organizer", "reviewer", "admin")),
    "GET /api/v1/communities/{cid}/satisfaction": Case(("organizer", "reviewer", "admin")),
    "GET /api/v1/communities/{cid}/wishes/candidates": Case(("organizer", "admin")),
    "GET /api/v1/wishes/{wish_id}": Case(A_PEOPLE),
    # The member posted the wish: nobody accepts their own (own_wish).
    "POST /api/v1/wishes/{wish_id}/accept": Case(
        STAFF, codes={"member": "own_wish"}, prep=lambda c, r, role: _open_wish(c, r)
    ),
    "POST /api/v1/wishes/{wish_id}/cancel": Case(
        ("member",), codes=NOT_REQUESTER, prep=lambda c, r, role: _open_wish(c, r)
    ),
    # Anyone of the community who took a wish completes it (only its volunteer: see test_duties_api).
    "POST /api/v1/wishes/{wish_id}/complete": Case(
        A_PEOPLE, prep=lambda c, r, role: _wish_taken_by(c, r, role)
    ),
    "POST /api/v1/wishes/{wish_id}/dispatch": Case(
        ("organizer", "admin"),
        body=lambda r, role: {"volunteer_id": r["bob"]},
        prep=lambda c, r, role: _open_wish(c, r),
    ),
    "POST /api/v1/wishes/{wish_id}/rate": Case(
        ("member",),
        body=lambda r, role: {"stars": 5},
        codes=NOT_REQUESTER,
        prep=lambda c, r, role: _done_wish(c, r),
    ),
    # Anyone of the community a wish is offered to may decline it.
    # Store and shop staff take no wishes, so none is offered to them.
    "POST /api/v1/wishes/{wish_id}/decline": Case(
        ("member", "organizer", "reviewer", "admin"),
        codes={"clerk": "not_offered_to_you", "partner": "not_offered_to_you"},
        body=lambda r, role: {"reason": "没空"},
        prep=lambda c, r, role: _wish_offered_to(c, r, role),
    ),
    # Only the volunteer doing the wish gets a privacy number to call its requester (issue 22): here each of
    # A's people took bob's wish (someone else's: not_assigned_volunteer, tests/api/test_wish_calls.py).
    "POST /api/v1/wishes/{wish_id}/call": Case(A_PEOPLE, prep=lambda c, r, role: _wish_taken_by(c, r, role)),
    # Notices (issue 22): one's own; someone else's notice is "no such notice".
    "GET /api/v1/me/notices": Case(LOGGED_IN),
    "POST /api/v1/me/notices/{notice_id}/read": Case(
        A_PEOPLE,
        deny={"other_admin": 404, "outsider": 404},
        codes={"other_admin": "notice_not_found", "outsider": "notice_not_found"},
        prep=lambda c, r, role: _notice_for(c, r, role),
    ),
    # Bob took the wish: an admin confirms it (the volunteer never confirms their own: reviewer_conflict).
    "POST /api/v1/wishes/{wish_id}/confirm": Case(
        ("organizer", "admin"), prep=lambda c, r, role: _taken_wish(c, r)
    ),
    # The caller's own links (scope=mine); anyone in the community may ask to link a neighbour.
    "GET /api/v1/communities/{cid}/household-links": Case(A_PEOPLE),
    "POST /api/v1/communities/{cid}/household-links": Case(
        A_PEOPLE, body=lambda r, role: {"phone": r["carol_phone"], "relation": "邻居"}
    ),
    "POST /api/v1/household-links/{link_id}/confirm": Case(("admin",)),
    "POST /api/v1/household-links/{link_id}/reject": Case(
        ("admin",), prep=lambda c, r, role: _new_link(c, r)
    ),
    # Either of the two people (alice asked) or an admin.
    "POST /api/v1/household-links/{link_id}/remove": Case(
        ("member", "admin"), prep=lambda c, r, role: _new_link(c, r, "alice" if role == "member" else "bob")
    ),
    # Only people who attended rate an activity (alice did).
    "POST /api/v1/activities/{aid}/ratings": Case(
        ("member",),
        body=lambda r, role: {"stars": 5},
        codes=dict.fromkeys(STAFF, "not_attended"),
        prep=lambda c, r, role: _attended_activity(c, r),
    ),
    # ---------------------------------------------------------------- regions
    # The platform administrator manages the tree: no community role passes.
    "GET /api/v1/regions": Case(LOGGED_IN),
    "POST /api/v1/regions": Case(
        (), body=lambda r, role: {"name": "新城", "code": f"city-{role[:5]}", "level": "city"}
    ),
    "PUT /api/v1/regions/communities/{community_id}": Case((), body=lambda r, role: {"region_id": None}),
    "POST /api/v1/regions/{region_id}/officials": Case((), body=lambda r, role: {"phone": r["bob_phone"]}),
    "DELETE /api/v1/regions/{region_id}/officials/{member_id}": Case(()),
    # The issuance budget: officials above the community (or the platform administrator) set it; the
    # community's own admins only read it (they are the insider it is against).
    "GET /api/v1/communities/{community_id}/budget": Case(("admin",), codes=BUDGET),
    "PUT /api/v1/communities/{community_id}/budget": Case(
        (), body=lambda r, role: {"monthly_points": 10**6}, codes=BUDGET
    ),
    # ---------------------------------------------------------------- reports
    # Asked for community A (see query_for): its admins (and officials of its regions).
    "GET /api/v1/reports": Case(("admin",)),
    "GET /api/v1/reports/export": Case(("admin",)),
    "GET /api/v1/reports/hours": Case(("admin",)),
    # ---------------------------------------------------------------- held accounts (issue 19)
    # A new password with the code texted to one's own phone: a wrong code changes nothing but the
    # guess counter (tests/api/test_held_accounts.py runs the success).
    "POST /api/v1/me/password/sms": Case(
        (),
        body=lambda r, role: {"code": "000000", "password": "changed-pass-1"},
        deny={role: 401 for role in ROLES},
        codes={role: "sms_code_invalid" for role in LOGGED_IN},
        counted=(*THROTTLE, "sms_codes"),
    ),
    # ---------------------------------------------------------------- corrections (issue 21)
    # Only the volunteer whose record it is asks; alice's record here is a manual one (not correctable);
    # organizers decide (tests/api/test_corrections_api.py runs the successes: requests, decisions).
    "POST /api/v1/attendance/{att_id}/corrections": Case(
        (),
        body=lambda r, role: {"checked_in_at": _t(-60), "checked_out_at": _t(-5), "reason": "忘记签退"},
        deny={"member": 409},
        codes={"member": "not_correctable", **{r: "not_your_attendance" for r in STAFF}},
    ),
    "GET /api/v1/communities/{cid}/corrections": Case(("organizer", "admin")),
    "GET /api/v1/me/corrections": Case(LOGGED_IN),
    "POST /api/v1/corrections/{correction_id}/approve": Case(
        (), deny={role: 404 for role in LOGGED_IN}, codes=dict.fromkeys(LOGGED_IN, "correction_not_found")
    ),
    "POST /api/v1/corrections/{correction_id}/reject": Case(
        (),
        body=lambda r, role: {"note": "不符"},
        deny={role: 404 for role in LOGGED_IN},
        codes=dict.fromkeys(LOGGED_IN, "correction_not_found"),
    ),
    # ---------------------------------------------------------------- rules adopted in public (issue 21)
    "POST /api/v1/rules/{rule_id}/adoptions": Case(
        ("admin",),
        body=lambda r, role: {
            "meeting": "板凳会",
            "held_on": clock.now().date().isoformat(),
            "attendance": 30,
            "votes_for": 25,
            "votes_against": 2,
            "effective_from": clock.now().date().isoformat(),
        },
    ),
    "GET /api/v1/rules/{rule_id}/adoptions": Case(EVERYONE),
    # ---------------------------------------------------------------- the street's alliance (issue 20)
    # A region's units: its officials (bob, no role here) and the platform admin; a community's shop
    # (world.partner): that community's admins invite its staff and pause it.
    "POST /api/v1/regions/{region_id}/partners": Case((), body=lambda r, role: {"name": f"联盟{role}"}),
    "GET /api/v1/regions/{region_id}/partners": Case(()),
    "POST /api/v1/partners/{pid}/staff": Case(
        ("admin",), body=lambda r, role: {"phone": "15900000077", "name": "店员"}
    ),
    "PATCH /api/v1/partners/{pid}": Case(("admin",), body=lambda r, role: {"active": True}),
    "GET /api/v1/reports/alliance": Case(("admin",)),
    # ---------------------------------------------------------------- residents' own data (PIPL)
    # One's own data and requests (the community is the caller's own); admins of A decide A's requests
    # (none here: member_request_not_found; tests/api/test_privacy_api.py runs the decisions).
    "GET /api/v1/me/data": Case(LOGGED_IN),
    "POST /api/v1/me/privacy-consent": Case(
        LOGGED_IN, body=lambda r, role: {"version": PRIVACY_NOTICE_VERSION}
    ),
    "POST /api/v1/me/correction-request": Case(LOGGED_IN, body=lambda r, role: {"name": f"改{role}"}),
    "POST /api/v1/me/deletion-request": Case(LOGGED_IN, body=lambda r, role: {"reason": "搬家"}),
    "GET /api/v1/communities/{cid}/member-requests": Case(("admin",)),
    "POST /api/v1/member-requests/{request_id}/decide": Case(
        (),
        body=lambda r, role: {"decision": "refuse"},
        deny={role: 404 for role in LOGGED_IN},
        codes=dict.fromkeys(LOGGED_IN, "member_request_not_found"),
    ),
    # ---------------------------------------------------------------- records (issue 21)
    # One's own ID document: anyone logged in (the same number on a second account is 409, allowed).
    "GET /api/v1/me/identity": Case(LOGGED_IN),
    "PUT /api/v1/me/identity": Case(
        LOGGED_IN, body=lambda r, role: {"id_type": "resident_id", "id_number": _id_number(role)}
    ),
    # carol's certificate: carol herself (an organizer here too), organizers and admins of A.
    "POST /api/v1/communities/{cid}/members/{mid}/certificates": Case(
        ("organizer", "admin"), body=lambda r, role: {}
    ),
    "GET /api/v1/communities/{cid}/issuer": Case(("organizer", "admin")),
    "PUT /api/v1/communities/{cid}/issuer": Case(
        ("admin",), body=lambda r, role: {"person_in_charge": "张书记"}
    ),
    "GET /api/v1/communities/{cid}/hours-export": Case(("organizer", "admin")),
    "GET /api/v1/certificates/verify": Case(EVERYONE),
    "GET /api/v1/certificates/{cert_id}": Case(("organizer", "admin")),
    "GET /api/v1/certificates/{cert_id}/pdf": Case(("organizer", "admin")),
    "POST /api/v1/certificates/{cert_id}/void": Case(
        ("organizer", "admin"),
        body=lambda r, role: {"reason": "有误"},
        prep=lambda c, r, role: _new_certificate(c, r),
    ),
}
"""``"METHOD path"`` (path parameters without their type) -> who passes. Keep it in the route table's order
of domains; every /api/v1 route must be here."""

LAST = ("POST /api/v1/me/password", "POST /api/v1/auth/logout")
"""Run these after the rest: they end the caller's logins."""

PARAMS = {
    ("communities", "cid"): "cid",
    ("members", "mid"): "carol",
    ("roles", "role"): "role",
    ("awards", "aid"): "award",
    ("activities", "aid"): "activity",
    ("attendance", "att_id"): "attendance",
    ("transfers", "tid"): "transfer",
    ("teams", "tid"): "team",
    ("products", "pid"): "product",
    ("partners", "pid"): "partner",
    ("orders", "oid"): "order",
    ("offers", "oid"): "offer",
    ("vouchers", "vid"): "voucher",
    ("rules", "rule_id"): "rule",
    ("claims", "claim_id"): "claim",
    ("photos", "photo_id"): "photo",
    ("wishes", "wish_id"): "wish",
    ("notices", "notice_id"): "notice",
    ("activations", "code"): "activation_code",
    ("registrations", "rid"): "registration",
    ("household-links", "link_id"): "household_link",
    ("regions", "region_id"): "region",
    ("communities", "community_id"): "cid",
    ("officials", "member_id"): "official",
    ("proposals", "pid"): "proposal",
    ("corrections", "correction_id"): "correction",
    ("member-requests", "request_id"): "member_request",
    ("certificates", "cert_id"): "certificate",
    ("offline-scans", "scan_id"): "offline_scan",
    ("scanners", "member_id"): "clerk_id",
}
"""(the path segment before a parameter, the parameter) -> the resource in ``Res`` it names."""


def api_routes(app: Any) -> list[str]:
    keys = []
    for route in app.routes:
        if not route.path.startswith("/api/v1"):
            continue
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for method in sorted(getattr(route, "methods", set()) - {"OPTIONS", "HEAD"}):
            keys.append(f"{method} {path}")
    return keys


def fill(path: str, res: Res) -> str:
    parts = path.split("/")
    for i, part in enumerate(parts):
        if part.startswith("{"):
            parts[i] = res[PARAMS[(parts[i - 1], part[1:-1])]]
    return "/".join(parts)


def query_for(key: str, res: Res) -> dict[str, str]:
    if key.startswith(("GET /api/v1/me/", "POST /api/v1/me/card")):
        return {"community_id": str(res.w.cid)}
    if key.endswith("/rules"):
        return {"include_inactive": "true"}
    if key.endswith("/settlement") or key.endswith("/partner-report"):
        return {"month": clock.now().strftime("%Y-%m")}
    if key.startswith("GET /api/v1/reports"):
        return {"scope": f"community:{res.w.cid}"}
    return {}


async def test_every_api_route_has_an_expectation(app: Any) -> None:
    routes = api_routes(app)
    missing = [k for k in routes if k not in EXPECT]
    stale = [k for k in EXPECT if k not in routes]
    assert not missing, f"routes with no line in EXPECT (say who may call them): {missing}"
    assert not stale, f"EXPECT names routes that no longer exist: {stale}"


async def _call(client: Any, key: str, res: Res, headers: dict[str, str], role: str) -> Any:
    """``key``'s request as ``role`` (``headers``), its path parameters and body from ``res``."""
    case = EXPECT[key]
    method, path = key.split(" ", 1)
    kwargs: dict[str, Any] = {"headers": dict(headers), "params": query_for(key, res)}
    if case.body is not None:
        body = case.body(res, role)
        if case.raw:
            kwargs["content"] = body
            kwargs["headers"]["content-type"] = "text/csv" if path.endswith("import") else "image/png"
        else:
            kwargs["json"] = body
    client.cookies.clear()  # anonymous means no login at all, not a cookie left by register
    return await client.request(method, fill(path, res), **kwargs)


async def _prepare(
    client: Any, case: Case, res: Res, roles: list[str], problems: list[str], key: str
) -> bool:
    """Run ``case.prep`` for ``roles[0]`` (if any); a failure is the cell's problem, not the test's end."""
    if case.prep is None or not roles:
        return True
    try:
        await case.prep(client, res, roles[0])
    except AssertionError as exc:
        problems.append(f"{key} as {roles[0]}: preparing failed: {str(exc)[:200]}")
        return False
    return True


def _refusal(case: Case, role: str, r: Any) -> str | None:
    """What is wrong with a refused role's answer: the status and the error code the cell names."""
    wanted = case.deny.get(role, 401 if role == "anonymous" else 403)
    code = case.codes.get(role, DENY_CODES.get(wanted))
    got = r.json().get("code") if "json" in r.headers.get("content-type", "") else None
    if r.status_code != wanted or got != code:
        return f"{r.status_code} {got!r}, expected {wanted} {code!r}"
    return None


async def snapshot(engine: Any) -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of its rows (the ledger's entries and sums, the audit log
    and everything else): a refusal must leave them all as they were."""
    out = {}
    async with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = sorted(repr(tuple(row)) for row in await conn.execute(select(table)))
            out[table.name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16])
    return out


async def test_every_route_checks_the_callers_role_in_the_owning_community(
    client: Any, world: World, maker: Any, app: Any, owner_engine: Any
) -> None:
    """Every cell: an allowed role, given a fresh resource it may act on and a valid body, gets a 2xx (202
    for a proposal); a refused role gets its status and error code, and the database is unchanged."""
    people, b_cid = await _people(maker, world)
    headers = await _tokens(maker, people)
    res = await _resources(client, world, b_cid)
    res.engine = owner_engine
    keys = [k for k in api_routes(app) if k in EXPECT and k not in LAST] + list(LAST)
    problems = []
    for key in keys:
        case = EXPECT[key]
        if key in LAST:
            headers = await _tokens(maker, people)

        shared = dict(res.ids)  # what preps make is this route's: later routes find the shared resources
        allowed = [role for role in ROLES if role in case.allow]
        if not await _prepare(client, case, res, allowed[:1], problems, key):
            continue
        # Refused roles first, on a resource the allowed role could act on: each must change nothing.
        before = await snapshot(owner_engine)
        for role in [role for role in ROLES if role not in case.allow]:
            r = await _call(client, key, res, headers[role], role)
            problem = _refusal(case, role, r)
            if problem:
                problems.append(f"{key} as {role}: {problem} {r.text[:120]}")
            after = await snapshot(owner_engine)
            changed = sorted(t for t in after if after[t] != before[t] and t not in case.counted)
            if changed:
                problems.append(f"{key} as {role}: the refusal changed {changed}")
            before = after
        for i, role in enumerate(allowed):
            if i and not await _prepare(client, case, res, [role], problems, key):
                continue
            r = await _call(client, key, res, headers[role], role)
            if not 200 <= r.status_code < 300:
                problems.append(f"{key} as {role}: {r.status_code}, but {role} is allowed {r.text[:120]}")
        res.ids = shared
    assert not problems, "\n".join(problems)


# ================================================================ every staff write leaves one audit event
#
# Every non-GET /api/v1 route a staff role may call (EXPECT allows one of STAFF, or only the platform
# admin) is either in AUDITED, called once successfully and expected to write exactly one audit event
# (its actor, action and community), or in AUDIT_EXEMPT with the reason it is not a staff act. A new
# staff route in neither fails test_every_staff_route_is_audited_or_exempt, naming the line to add.
#
# To add a route: ``"METHOD /api/v1/path/{param}": Audited("role", "action_recorded")`` (``body`` defaults
# to EXPECT's; ``prep`` makes a fresh resource first; ``community`` says which chain gets the event), and
# record the event in the SERVICE function (service.audit.service.record), never in the controller.

Prep = Callable[[Any, Res], Any]


@dataclass
class Audited:
    role: str
    """Who makes the successful call: a name of the ``world`` fixture (admin, organizer, clerk,
    reviewer, partner; root = the platform admin)."""
    action: str
    """The one event the call must write."""
    body: Body | None = None
    """The request body (default: EXPECT's)."""
    prep: Prep | None = None
    """``async prep(client, res)``: make fresh resources first (a pending award to decide, ...)."""
    community: str = "A"
    """Whose chain: ``A`` (community A), ``platform`` (no community), ``created`` (the reply's ``id``)."""


_RISING_CAP = itertools.count(5_000, 7)


async def _new_proposal(client: Any, res: Res, who: str = "admin2") -> None:
    """A widening change of the activity cap, proposed by ``who`` (another admin decides it)."""
    body = {"points_cap": next(_RISING_CAP)}  # always higher than any cap approved before: a widening
    client.cookies.clear()
    r = await client.put(f"/api/v1/communities/{res.w.cid}/activity-policy", headers=res.w.h[who], json=body)
    assert r.status_code == 202, r.text
    res.ids["proposal"] = r.json()["proposal"]["id"]


async def _own_proposal(client: Any, res: Res) -> None:
    await _new_proposal(client, res, "admin")


async def _new_award(client: Any, res: Res) -> None:
    body = {"member_id": res["bob"], "points": 500, "reason": "大额"}
    res.ids["award"] = (
        await _post(client, f"/api/v1/communities/{res.w.cid}/awards", "admin2", res, json=body)
    )["id"]


async def _pending_activity(client: Any, res: Res) -> None:
    await _new_activity(client, res, POINTS_CAP_DEFAULT + 1)


async def _new_manual(client: Any, res: Res) -> None:
    aid = await _new_activity(client, res)
    body = {"member_id": res["bob"], "checked_in_at": _t(-50), "checked_out_at": _t(-10), "note": "补录"}
    res.ids["attendance"] = (
        await _post(client, f"/api/v1/activities/{aid}/manual-checkins", "organizer2", res, json=body)
    )["id"]


def _sync_body(res: Res) -> dict[str, Any]:
    """One card scanned offline a minute ago at the fresh activity (a new nonce each time)."""
    scan = {
        "nonce": uuid.uuid4().hex,
        "activity_id": res["activity"],
        "code": res["card_token"],
        "scanned_at": _t(-1),
    }
    return {"device_id": "matrix-scanner", "scans": [scan]}


async def _new_offline_scan(client: Any, res: Res) -> None:
    """A refused offline scan (an unknown code) organizer2 uploaded, for an organizer to resolve."""
    aid = await _new_activity(client, res)
    scan = {"nonce": uuid.uuid4().hex, "activity_id": aid, "code": "unknown-card", "scanned_at": _t(-1)}
    body = {"device_id": "matrix-scanner", "scans": [scan]}
    await _post(client, "/api/v1/scans/sync", "organizer2", res, json=body)
    client.cookies.clear()
    listed = await client.get(f"/api/v1/activities/{aid}/offline-scans", headers=res.w.h["organizer2"])
    assert listed.status_code == 200, listed.text
    res.ids["offline_scan"] = next(s["id"] for s in listed.json() if s["nonce"] == scan["nonce"])


async def _new_scanner(client: Any, res: Res) -> None:
    """A fresh activity with the clerk named to scan at it (by organizer2), for an organizer to remove."""
    aid = await _new_activity(client, res)
    await _post(
        client, f"/api/v1/activities/{aid}/scanners", "organizer2", res, json={"member_id": res["clerk_id"]}
    )


async def _new_registration(client: Any, res: Res) -> None:
    if res.engine is not None:  # the refused sign-ups before counted against this address
        async with res.engine.begin() as conn:
            await conn.execute(delete(LoginFailure))
    # sign-ups may have been switched off by an earlier case: opening them is a proposal admin2 approves
    client.cookies.clear()
    body = {"self_registration": "approval"}
    r = await client.patch(f"/api/v1/communities/{res.w.cid}", headers=res.w.h["admin"], json=body)
    if r.status_code == 202:
        pid = r.json()["proposal"]["id"]
        await _post(client, f"/api/v1/proposals/{pid}/approve", "admin2", res)
    n = uuid.uuid4().int % 100_000
    phone = f"158000{n:05d}"
    client.cookies.clear()
    await _ok(await client.post("/api/v1/auth/sms-code", json={"phone": phone}), "sms code")
    body = {
        "phone": phone,
        "name": "待批",
        "password": "new-pass-123",
        "community_id": str(res.w.cid),
        "sms_code": re.findall(r"\d{6}", last_text_to(phone) or "")[0],
    }
    client.cookies.clear()
    await _ok(await client.post("/api/v1/auth/register", json=body), "sign-up")
    client.cookies.clear()
    waiting = await client.get(f"/api/v1/communities/{res.w.cid}/registrations", headers=res.w.h["admin"])
    res.ids["registration"] = waiting.json()[0]["id"]


_NEW_PHONES = itertools.count(15900001000)


async def _new_link(client: Any, res: Res, asker: str = "bob") -> None:
    """``asker`` asks to link a new neighbour's household (each pair is linked once)."""
    phone = str(next(_NEW_PHONES))
    person = {"phone": phone, "name": "新邻居", "role": "member"}
    await _post(client, f"/api/v1/communities/{res.w.cid}/members", "admin", res, json=person)
    body = {"phone": phone, "relation": "邻居"}
    made = await _post(client, f"/api/v1/communities/{res.w.cid}/household-links", asker, res, json=body)
    res.ids["household_link"] = made["id"]


def _person(role: str) -> str:
    """The ``world`` name of community A's person playing ``role``."""
    return "alice" if role == "member" else role


async def _attended_activity(client: Any, res: Res) -> None:
    """An activity alice attended (a manual record, approved)."""
    aid = await _new_activity(client, res)
    body = {"member_id": res["member"], "checked_in_at": _t(-50), "checked_out_at": _t(-10), "note": "补录"}
    made = await _post(client, f"/api/v1/activities/{aid}/manual-checkins", "organizer2", res, json=body)
    await _post(client, f"/api/v1/attendance/{made['id']}/approve", "organizer", res)


async def _upcoming_activity(client: Any, res: Res) -> None:
    body = _activity_body(res, "") | {"starts_at": _t(60), "ends_at": _t(120)}
    made = await _post(client, f"/api/v1/communities/{res.w.cid}/activities", "organizer", res, json=body)
    res.ids["activity"] = made["id"]


async def _new_order(client: Any, res: Res, field: str, key: str | None = None) -> None:
    made = await _post(client, "/api/v1/orders", "alice", res, json={"product_id": res["product"]})
    res.ids[key or field] = made[field]


async def _new_voucher(client: Any, res: Res, field: str, key: str | None = None) -> None:
    made = await _post(client, f"/api/v1/offers/{res['offer']}/vouchers", "alice", res)
    res.ids[key or field] = made[field]


async def _new_claim(client: Any, res: Res, publicized: bool = False) -> None:
    """An organizer's claim for bob, waiting for review (or approved and in its public notice)."""
    body = {"rule_id": res["rule"], "member_id": res["bob"], "evidence": "看到了", "event_date": _claim_day()}
    claim = await _post(client, "/api/v1/claims", "organizer", res, json=body)
    res.ids["claim"] = claim["id"]
    if publicized:
        review = {"decision": "approve"}
        await _post(client, f"/api/v1/claims/{claim['id']}/review", "reviewer", res, json=review)


async def _wish_taken_by(client: Any, res: Res, role: str) -> None:
    """Bob's wish, taken from the pool by ``role``'s person."""
    wish = await _post(client, f"/api/v1/communities/{res.w.cid}/wishes", "bob", res, json={"title": "搬家"})
    await _post(client, f"/api/v1/wishes/{wish['id']}/accept", _person(role), res)
    res.ids["wish"] = wish["id"]


async def _notice_for(client: Any, res: Res, role: str) -> None:
    """A notice to ``role``'s person: their wish was dispatched to bob."""
    person = _person(role)
    wish = await _post(client, f"/api/v1/communities/{res.w.cid}/wishes", person, res, json={"title": "修门"})
    dispatcher = "admin" if role == "organizer" else "organizer"
    body = {"volunteer_id": res["bob"]}
    await _post(client, f"/api/v1/wishes/{wish['id']}/dispatch", dispatcher, res, json=body)
    r = await client.get("/api/v1/me/notices", headers=res.w.h[person])
    assert r.status_code == 200, r.text
    res.ids["notice"] = next(n["id"] for n in r.json()["items"] if n["kind"] == "wish_dispatched")


async def _wish_offered_to(client: Any, res: Res, role: str) -> None:
    """Bob's wish, offered (dispatched) to ``role``'s person."""
    wish = await _post(client, f"/api/v1/communities/{res.w.cid}/wishes", "bob", res, json={"title": "买菜"})
    dispatcher = "admin" if role == "organizer" else "organizer"
    body = {"volunteer_id": str(res.w.members[_person(role)].id)}
    await _post(client, f"/api/v1/wishes/{wish['id']}/dispatch", dispatcher, res, json=body)
    res.ids["wish"] = wish["id"]


async def _done_wish(client: Any, res: Res) -> None:
    """Alice's wish, offered to bob, who did it: alice rates it."""
    wish = await _post(
        client, f"/api/v1/communities/{res.w.cid}/wishes", "alice", res, json={"title": "取药"}
    )
    body = {"volunteer_id": res["bob"]}
    await _post(client, f"/api/v1/wishes/{wish['id']}/dispatch", "organizer", res, json=body)
    await _post(client, f"/api/v1/wishes/{wish['id']}/accept", "bob", res)
    await _post(client, f"/api/v1/wishes/{wish['id']}/complete", "bob", res)
    res.ids["wish"] = wish["id"]


async def _new_transfer(client: Any, res: Res) -> None:
    body = {"member_id": res["bob"], "points": 10, "reason": "帮忙"}
    made = await _post(client, f"/api/v1/communities/{res.w.cid}/awards", "admin", res, json=body)
    res.ids["transfer"] = made["transfer_id"]


async def _open_wish(client: Any, res: Res) -> None:
    wish = await _post(
        client, f"/api/v1/communities/{res.w.cid}/wishes", "alice", res, json={"title": "换锁"}
    )
    res.ids["wish"] = wish["id"]


async def _taken_wish(client: Any, res: Res) -> None:
    """A wish bob took from the pool and did: an admin confirms it."""
    wish = await _post(
        client, f"/api/v1/communities/{res.w.cid}/wishes", "alice", res, json={"title": "修灯"}
    )
    await _post(client, f"/api/v1/wishes/{wish['id']}/accept", "bob", res)
    await _post(client, f"/api/v1/wishes/{wish['id']}/complete", "bob", res)
    res.ids["wish"] = wish["id"]


def _id_number(role: str) -> str:
    """A 居民身份证 number of its own for each role (GB 11643 check digit)."""
    body = f"32010219900101{ROLES.index(role):03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


async def _certify_carol(client: Any, res: Res) -> Any:
    url = f"/api/v1/communities/{res.w.cid}/members/{res['carol']}/certificates"
    return await client.post(url, headers=res.w.h["admin"], json={})


async def _new_certificate(client: Any, res: Res) -> None:
    res.ids["certificate"] = (await _ok(await _certify_carol(client, res), "certificate"))["id"]


async def _new_correction(client: Any, res: Res) -> None:
    """alice's card scanned at a fresh activity (checked in, never out); she asks to correct it."""
    aid = await _new_activity(client, res)
    body = {"card_token": res["card_token"]}
    att = await _post(client, f"/api/v1/activities/{aid}/card-scans", "organizer", res, json=body)
    body = {"checked_in_at": _t(-50), "checked_out_at": _t(-5), "reason": "忘记签退"}
    url = f"/api/v1/attendance/{att['attendance_id']}/corrections"
    made = await _post(client, url, "alice", res, json=body)
    res.ids["correction"] = made["id"]


async def _new_member_request(client: Any, res: Res) -> None:
    """bob asks for his account to be deleted (an admin refuses it: the world goes on)."""
    made = await _post(client, "/api/v1/me/deletion-request", "bob", res, json={"reason": "试试"})
    res.ids["member_request"] = made["id"]


AUDITED: dict[str, Audited] = {
    # ---------------------------------------------------------------- the issuance budget
    "PUT /api/v1/communities/{community_id}/budget": Audited(
        "root", "budget_set", body=lambda r, role: {"monthly_points": 40_000_000}
    ),
    # ---------------------------------------------------------------- policy proposals
    "POST /api/v1/proposals/{pid}/approve": Audited("admin", "policy_change_approved", prep=_new_proposal),
    "POST /api/v1/proposals/{pid}/reject": Audited("admin", "policy_change_rejected", prep=_new_proposal),
    "POST /api/v1/proposals/{pid}/withdraw": Audited("admin", "policy_change_withdrawn", prep=_own_proposal),
    # ---------------------------------------------------------------- wishes: the requester's address and
    # phone reach the volunteer (issue 22)
    "POST /api/v1/wishes/{wish_id}/accept": Audited("organizer", "wish_accepted", prep=_open_wish),
    "POST /api/v1/wishes/{wish_id}/call": Audited(
        "organizer", "wish_call_bound", prep=lambda c, r: _wish_taken_by(c, r, "organizer")
    ),
    # ---------------------------------------------------------------- accounts
    "POST /api/v1/communities": Audited("root", "community_created", community="created"),
    "PATCH /api/v1/communities/{cid}": Audited(
        "admin", "policy_narrowed", body=lambda r, role: {"self_registration": "off"}
    ),
    "POST /api/v1/registrations/{rid}/approve": Audited(
        "admin", "registration_approved", prep=_new_registration
    ),
    "POST /api/v1/registrations/{rid}/reject": Audited(
        "admin", "registration_rejected", prep=_new_registration
    ),
    "POST /api/v1/communities/{cid}/members/{mid}/activation": Audited("admin", "activation_issued"),
    "POST /api/v1/communities/{cid}/members": Audited("admin", "role_granted"),
    "POST /api/v1/communities/{cid}/members/import": Audited("admin", "members_imported"),
    "PATCH /api/v1/communities/{cid}/members/{mid}": Audited("admin", "name_changed"),
    "POST /api/v1/communities/{cid}/members/{mid}/password": Audited("root", "password_set"),
    "DELETE /api/v1/communities/{cid}/members/{mid}/roles/{role}": Audited("admin", "role_removed"),
    "POST /api/v1/communities/{cid}/partners": Audited("admin", "partner_created"),
    # ---------------------------------------------------------------- points
    "POST /api/v1/communities/{cid}/awards": Audited("admin", "award_requested"),
    "POST /api/v1/awards/{aid}/approve": Audited("admin", "award_approved", prep=_new_award),
    "POST /api/v1/awards/{aid}/reject": Audited("admin", "award_rejected", prep=_new_award),
    "POST /api/v1/communities/{cid}/transfers/{tid}/reverse": Audited(
        "admin", "transfer_reversed", prep=_new_transfer
    ),
    "PUT /api/v1/communities/{cid}/points-policy": Audited(
        "admin",
        "policy_narrowed",
        body=lambda r, role: {"expiry_mode": "never", "award_approval_threshold": 10},
    ),
    # ---------------------------------------------------------------- activities
    "POST /api/v1/communities/{cid}/activities": Audited("organizer", "activity_created"),
    "PATCH /api/v1/activities/{aid}": Audited("organizer", "activity_updated", prep=_new_activity),
    "POST /api/v1/activities/{aid}/cancel": Audited("organizer", "activity_cancelled", prep=_new_activity),
    "POST /api/v1/activities/{aid}/approve": Audited("admin", "activity_approved", prep=_pending_activity),
    "PUT /api/v1/communities/{cid}/activity-policy": Audited(
        "admin", "policy_narrowed", body=lambda r, role: {"points_cap": 10}
    ),
    "POST /api/v1/activities/{aid}/card-scans": Audited("organizer", "card_scanned", prep=_new_activity),
    "POST /api/v1/scans/sync": Audited("organizer", "offline_scans_synced", prep=_new_activity),
    "POST /api/v1/offline-scans/{scan_id}/resolve": Audited(
        "organizer", "offline_scan_resolved", prep=_new_offline_scan
    ),
    "POST /api/v1/activities/{aid}/scanners": Audited("organizer", "scanner_assigned", prep=_new_activity),
    "DELETE /api/v1/activities/{aid}/scanners/{member_id}": Audited(
        "organizer", "scanner_removed", prep=_new_scanner
    ),
    "POST /api/v1/activities/{aid}/close": Audited("organizer", "activity_closed", prep=_new_activity),
    "POST /api/v1/activities/{aid}/manual-checkins": Audited(
        "organizer", "manual_attendance_requested", prep=_new_activity
    ),
    "POST /api/v1/activities/{aid}/poster/revoke": Audited("organizer", "poster_revoked", prep=_new_activity),
    "POST /api/v1/attendance/{att_id}/approve": Audited(
        "organizer", "manual_attendance_approved", prep=_new_manual
    ),
    "POST /api/v1/attendance/{att_id}/reject": Audited(
        "organizer", "manual_attendance_rejected", prep=_new_manual
    ),
    "POST /api/v1/communities/{cid}/teams": Audited("organizer", "team_created"),
    "POST /api/v1/teams/{tid}/members": Audited("organizer", "team_member_added"),
    # ---------------------------------------------------------------- store
    "POST /api/v1/communities/{cid}/products": Audited("clerk", "product_created"),
    "PATCH /api/v1/products/{pid}": Audited("clerk", "product_updated"),
    "PUT /api/v1/products/{pid}/image": Audited("clerk", "product_image_set"),
    "PUT /api/v1/communities/{cid}/store-settings": Audited("admin", "policy_narrowed"),
    "POST /api/v1/orders/pickup": Audited("clerk", "order_picked_up"),
    "POST /api/v1/orders/{oid}/cancel": Audited("clerk", "order_cancelled"),
    "POST /api/v1/partners/{pid}/offers": Audited("partner", "offer_created"),
    "POST /api/v1/vouchers/redeem": Audited("partner", "voucher_redeemed"),
    # ---------------------------------------------------------------- rewards
    "POST /api/v1/communities/{cid}/rules": Audited("admin", "policy_change_proposed"),  # switched on: waits
    "PATCH /api/v1/rules/{rule_id}": Audited("admin", "rule_updated"),
    "PUT /api/v1/communities/{cid}/rewards-settings": Audited("admin", "policy_narrowed"),
    # An organizer (grid worker) files for someone else: a staff act (for oneself it is not, see below).
    "POST /api/v1/claims": Audited(
        "organizer",
        "claim_filed",
        body=lambda r, role: {"rule_id": r["rule"], "member_id": r["bob"], "evidence": "看到了"},
    ),
    "POST /api/v1/claims/{claim_id}/review": Audited("reviewer", "claim_rejected"),
    "POST /api/v1/wishes/{wish_id}/dispatch": Audited("organizer", "wish_dispatched", prep=_open_wish),
    "POST /api/v1/wishes/{wish_id}/confirm": Audited("admin", "wish_confirmed", prep=_taken_wish),
    "POST /api/v1/household-links/{link_id}/confirm": Audited("admin", "household_link_confirmed"),
    "POST /api/v1/household-links/{link_id}/reject": Audited(
        "admin", "household_link_rejected", prep=_new_link
    ),
    "POST /api/v1/household-links/{link_id}/remove": Audited(
        "admin", "household_link_removed", prep=_new_link
    ),
    # ---------------------------------------------------------------- regions
    "POST /api/v1/regions": Audited("root", "region_created", community="platform"),
    "PUT /api/v1/regions/communities/{community_id}": Audited("root", "community_region_set"),
    "POST /api/v1/regions/{region_id}/officials": Audited(
        "root", "official_added", body=lambda r, role: {"phone": r["carol_phone"]}, community="platform"
    ),
    "DELETE /api/v1/regions/{region_id}/officials/{member_id}": Audited(
        "root", "official_removed", community="platform"
    ),
    "POST /api/v1/corrections/{correction_id}/approve": Audited(
        "organizer", "correction_approved", prep=_new_correction
    ),
    "POST /api/v1/corrections/{correction_id}/reject": Audited(
        "organizer", "correction_rejected", body=lambda r, role: {"note": "不符"}, prep=_new_correction
    ),
    "POST /api/v1/rules/{rule_id}/adoptions": Audited("admin", "rule_adopted"),
    "POST /api/v1/regions/{region_id}/partners": Audited(
        "root", "unit_created", body=lambda r, role: {"name": "药店", "kind": "health"}, community="platform"
    ),
    "POST /api/v1/partners/{pid}/staff": Audited("admin", "partner_staff_invited"),
    "PATCH /api/v1/partners/{pid}": Audited("admin", "partner_resumed"),
    "POST /api/v1/member-requests/{request_id}/decide": Audited(
        "admin", "deletion_refused", prep=_new_member_request
    ),
    # ---------------------------------------------------------------- records (issue 21)
    "POST /api/v1/communities/{cid}/members/{mid}/certificates": Audited("organizer", "certificate_issued"),
    "PUT /api/v1/communities/{cid}/issuer": Audited("admin", "issuer_settings_changed"),
    "POST /api/v1/certificates/{cert_id}/void": Audited(
        "organizer", "certificate_voided", prep=_new_certificate
    ),
}
"""Staff routes -> the successful call that must write exactly one audit event (route table order)."""

AUDIT_EXEMPT: dict[str, str] = {
    "POST /api/v1/auth/login": "logging in is nobody's act on others (failures are throttled, not audited)",
    "POST /api/v1/auth/sms-login": "logging in",
    "POST /api/v1/auth/register": "a person signs themself up (anonymous)",
    "POST /api/v1/auth/sms-code": "asking for one's own login code (anonymous)",
    "POST /api/v1/auth/activate": "the code's holder sets their own password",
    "POST /api/v1/auth/logout": "ends one's own login",
    "POST /api/v1/me/password": "changes one's own password (an admin setting someone's is audited)",
    "POST /api/v1/activities/{aid}/signups": "signs oneself up",
    "POST /api/v1/checkins": "checks oneself in by QR (the points are in the ledger)",
    "POST /api/v1/me/card/revoke": "replaces one's own card",
    "POST /api/v1/me/code/revoke": "replaces one's own personal code",
    "POST /api/v1/orders": "one's own order (the points hold is in the ledger)",
    "POST /api/v1/offers/{oid}/vouchers": "claims a voucher for oneself",
    "POST /api/v1/claims/{claim_id}/objections": "any resident objects during the public notice",
    "POST /api/v1/communities/{cid}/wishes": "posts one's own wish",
    "POST /api/v1/me/notices/{notice_id}/read": "marks one's own notice read",
    "POST /api/v1/wishes/{wish_id}/complete": "the volunteer reports their own work done",
    "POST /api/v1/wishes/{wish_id}/decline": "the volunteer declines an offer made to them",
    "POST /api/v1/communities/{cid}/household-links": "asks to link one's own household (an admin confirms)",
    "POST /api/v1/me/password/sms": "secures one's own account (it records account_secured all the same)",
    "POST /api/v1/me/privacy-consent": "accepts the privacy notice for oneself (recorded all the same)",
    "POST /api/v1/me/correction-request": "about one's own data (recorded anyway; the decision is audited)",
    "POST /api/v1/me/deletion-request": "about one's own account (recorded anyway; the decision is audited)",
    "POST /api/v1/attendance/{att_id}/corrections": "asks to correct one's own record (recorded anyway)",
    "PUT /api/v1/me/identity": "adds one's own ID document (never logged, not even in the audit log)",
}
"""Non-GET routes staff may call that are not staff acts: each with the reason."""


def _staff_routes(app: Any) -> list[str]:
    """Non-GET routes a staff role (or only the platform admin) may call, by EXPECT."""
    out = []
    for key in api_routes(app):
        case = EXPECT.get(key)
        if key.startswith("GET ") or case is None:
            continue
        if not case.allow or set(case.allow) & {*STAFF, "admin"}:
            out.append(key)
    return out


async def test_every_staff_route_is_audited_or_exempt(app: Any) -> None:
    staff = _staff_routes(app)
    missing = [k for k in staff if k not in AUDITED and k not in AUDIT_EXEMPT]
    both = [k for k in AUDITED if k in AUDIT_EXEMPT]
    stale = [k for k in (*AUDITED, *AUDIT_EXEMPT) if k not in staff]
    hint = "\n".join(
        f'    "{k}": Audited("<role that may call it>", "<action its service function records>"),'
        for k in missing
    )
    assert not missing, (
        "staff routes that write no audit event as far as the tests know: record the act in the service "
        "function (service.audit.service.record) and add to AUDITED in tests/api/test_route_matrix.py\n"
        f"{hint}\n(or, if it is not a staff act, a line with the reason to AUDIT_EXEMPT)"
    )
    assert not both, f"routes both audited and exempt: {both}"
    assert not stale, f"AUDITED/AUDIT_EXEMPT name routes that are not staff routes (any more): {stale}"


async def _events(maker: Any) -> dict[Any, Any]:
    from service.audit.models import AuditEvent

    async with maker() as db:
        rows = (await db.execute(select(AuditEvent))).scalars().all()
        return {e.id: e for e in rows}


async def test_every_audited_staff_route_writes_one_event(
    client: Any, world: World, maker: Any, app: Any
) -> None:
    """Each route of AUDITED, called once with success: exactly one new event, its actor, action and
    community (who, what, where), with the caller's address."""
    _, b_cid = await _people(maker, world)
    res = await _resources(client, world, b_cid)
    problems = []
    for key in [k for k in api_routes(app) if k in AUDITED]:
        spec, case = AUDITED[key], EXPECT[key]
        method, path = key.split(" ", 1)
        if spec.prep is not None:
            await spec.prep(client, res)
        before = await _events(maker)
        kwargs: dict[str, Any] = {"headers": dict(world.h[spec.role]), "params": query_for(key, res)}
        make_body = spec.body or case.body
        if make_body is not None:
            body = make_body(res, spec.role)
            if case.raw:
                kwargs["content"] = body
                kwargs["headers"]["content-type"] = "text/csv" if path.endswith("import") else "image/png"
            else:
                kwargs["json"] = body
        client.cookies.clear()
        r = await client.request(method, fill(path, res), **kwargs)
        if r.status_code >= 300:
            problems.append(f"{key} as {spec.role}: {r.status_code} {r.text[:200]} (the call must succeed)")
            continue
        new = [e for i, e in (await _events(maker)).items() if i not in before]
        want_community = {
            "A": world.cid,
            "platform": None,
            "created": uuid.UUID(r.json()["id"]) if spec.community == "created" else None,
        }[spec.community]
        got = [(e.action, e.actor_id, e.community_id) for e in new]
        if got != [(spec.action, world.members[spec.role].id, want_community)]:
            problems.append(
                f"{key} as {spec.role}: wrote {got}, expected one {spec.action!r} in {spec.community}"
            )
        elif not new[0].client_addr:
            problems.append(f"{key}: the event has no client address")
    assert not problems, "\n".join(problems)
