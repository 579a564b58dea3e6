"""The offline scanner (issue 23): an installable page for organizers (and the clerks they name to scan)
that keeps working in a village square with no signal, its web app manifest, the service worker that
keeps the pages and files it needs, and Jifen's own offline page (shown instead of the browser's error
page).

The service worker is served from the site's root (``/sw.js``) so that its scope is the whole site: a
phone that once opened Jifen gets the offline page for any address it cannot reach. Its cache is named
after a hash of every static file's version and of its own source, so a release installs a new worker
and drops the old files (static URLs are versioned, see ``service.web.assets``)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.activities import views
from service.kit.script_json import script_json
from service.web.assets import asset_url, assets
from service.web.guards import admin_community
from service.web.i18n import translator
from service.web.render import locale_of, page

__all__ = [
    "OFFLINE_PATH",
    "PRECACHED_ASSETS",
    "ROUTES",
    "SCANNER_ROLES",
    "SCAN_REFUSALS",
    "refusal_texts",
    "service_worker_source",
]

OFFLINE_PATH = "/offline"
SCANNER_ROLES = ("organizer", "clerk")
"""Who checks people in (and so issues points): organizers (and admins, who pass every check), and
store clerks only where an organizer named them: a clerk sees just the activities they were named to
(``views.scanner_activities``), a clerk named nowhere is refused, and the kit and the sync check the
same (``activities.service.scanner_activity``)."""
PRECACHED_ASSETS = (
    "app.css",
    "app.js",
    "scanner.css",
    "scanner.js",
    "jsqr.js",
    "idb.js",
    "noble-ed25519.js",
    "favicon.ico",
    "icon-192.png",
)
"""Files the service worker keeps at install: the scanner must start with no network."""
WORKER_SOURCE = Path(__file__).parent / "sw.js"
MANIFEST = {
    "name": "积分 · 签到扫码",
    "short_name": "积分扫码",
    "description": "积分活动签到扫码（可离线使用）",
    "start_url": "/scan",
    "scope": "/",
    "display": "standalone",
    "orientation": "portrait",
    "background_color": "#ffffff",
    "theme_color": "#c8102e",
    "lang": "zh-CN",
}
ICONS = (("icon-192.png", "192x192"), ("icon-512.png", "512x512"))
"""The home-screen icons (PNG: what browsers ask of an installable app)."""
SCAN_REFUSALS = {
    "code_invalid": "Not a genuine Jifen code, or an unknown one.",
    "card_revoked": "This card or code was replaced by a newer one and no longer works.",
    "not_a_member": "Not a member of this activity's community.",
    "outside_window": "Scanned outside the activity's check-in time.",
    "clock_drift": "This phone's clock was wrong when scanning; check the phone's time.",
    "scan_conflict": "Already checked in on another phone; the organizer resolves it on the activity page.",
    "activity_not_open": "The activity is not open for check-in.",
    "already_checked_out": "Already checked out of this activity.",
    "not_signed_up": "Not signed up for this activity.",
    "activity_full": "The activity is full.",
    "manual_pending": "The attendance was entered by hand and waits for approval.",
    "confirmation_pending": "An organizer's own attendance waits for another organizer.",
}
"""What each refusal code of ``POST /api/v1/scans/sync`` (docs/offline.md) means, as the scanner's list
says it (msgids; the page hands them over translated)."""
CommunityParam = Annotated[str | None, Parameter(max_length=64)]


def service_worker_source() -> str:
    """The worker's script: its version, the files to keep, then the fixed source (``service/web/sw.js``)."""
    source = WORKER_SOURCE.read_text(encoding="utf-8")
    urls = [asset_url(name) for name in PRECACHED_ASSETS]
    digest = hashlib.sha256(source.encode())
    for name, found in sorted(assets().items()):
        digest.update(f"{name}={found.version};".encode())
    head = (
        f"const VERSION = {script_json(digest.hexdigest()[:12])};\n"
        f"const OFFLINE_URL = {script_json(OFFLINE_PATH)};\n"
        f"const PRECACHE = {script_json(urls)};\n"
    )
    return head + source


def refusal_texts(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The scan refusals in the page's language."""
    gettext = translator(locale_of(request)).gettext
    return {code: gettext(text) for code, text in SCAN_REFUSALS.items()}


@get("/scan", include_in_schema=False)
async def scanner_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: CommunityParam = None
) -> Response[str]:
    """The scanner: pick an activity while online (its kit is kept on the phone), then scan offline."""
    chosen = await admin_community(request, db, actor, community, *SCANNER_ROLES)
    rows = await views.scanner_activities(db, actor, chosen.id)
    refusals = refusal_texts(request)
    return page(request, "scanner/scan.html", actor, community=chosen, activities=rows, refusals=refusals)


@get(OFFLINE_PATH, include_in_schema=False)
async def offline_page(request: Request[Any, Any, Any]) -> Response[str]:
    """What a phone shows when it cannot reach Jifen (the service worker keeps a copy of this page)."""
    return page(request, "scanner/offline.html", None)


@get("/scan.webmanifest", include_in_schema=False, cache_control=None)
async def manifest() -> Response[bytes]:
    """The web app manifest: the scanner installs to the home screen, no app store."""
    icons = [{"src": asset_url(name), "sizes": sizes, "type": "image/png"} for name, sizes in ICONS]
    body = msgspec.json.encode({**MANIFEST, "id": "/scan", "icons": icons})
    return Response(body, media_type="application/manifest+json", headers={"Cache-Control": "no-cache"})


@get("/sw.js", include_in_schema=False, cache_control=None)
async def service_worker() -> Response[str]:
    """The service worker, at the root so its scope is the whole site; never cached by HTTP (a new
    release must reach the phone), and browsers check it again on every visit anyway."""
    return Response(
        service_worker_source(),
        media_type="application/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


ROUTES: list[Any] = [scanner_page, offline_page, manifest, service_worker]
