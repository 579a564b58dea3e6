"""The offline scanner's installable parts: the service worker (root scope, never HTTP-cached, keeps the
current versioned files), the web app manifest, and the scanner's refusal reasons in Chinese."""

from __future__ import annotations

import json
from typing import Any

from service.web import assets as assets_module
from service.web.assets import asset_url
from service.web.scanner_pages import PRECACHED_ASSETS, SCAN_REFUSALS, service_worker_source
from tests.support.world import World


async def test_the_service_worker_covers_the_site_and_keeps_the_current_files(client: Any) -> None:
    r = await client.get("/sw.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/javascript")
    assert r.headers["cache-control"] == "no-cache" and r.headers["service-worker-allowed"] == "/"
    for name in PRECACHED_ASSETS:
        assert json.dumps(asset_url(name)) in r.text, name
    assert 'const OFFLINE_URL = "/offline";' in r.text


def test_a_changed_static_file_makes_a_new_worker_version(monkeypatch: Any) -> None:
    before = service_worker_source().splitlines()[0]
    changed = dict(assets_module.assets())
    old = changed["app.js"]
    changed["app.js"] = type(old)("0" * 12, old.body, old.gzipped, old.media_type)
    monkeypatch.setattr("service.web.scanner_pages.assets", lambda: changed)
    after = service_worker_source().splitlines()[0]
    assert before.startswith("const VERSION = ") and after != before


async def test_the_manifest_installs_the_scanner(client: Any) -> None:
    r = await client.get("/scan.webmanifest")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/manifest+json")
    manifest = r.json()
    assert manifest["start_url"] == "/scan" and manifest["display"] == "standalone"
    assert manifest["lang"] == "zh-CN"
    for icon in manifest["icons"]:  # PNG icons of the sizes installing asks for, served
        got = await client.get(icon["src"])
        assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert {i["sizes"] for i in manifest["icons"]} == {"192x192", "512x512"}


async def test_the_scanner_page_links_the_manifest_and_says_every_refusal_in_chinese(
    client: Any, world: World
) -> None:
    r = await client.get(f"/scan?community={world.cid}", headers=world.h["organizer"])
    assert r.status_code == 200
    assert '<link rel="manifest" href="/scan.webmanifest">' in r.text
    assert asset_url("jsqr.js") in r.text and asset_url("idb.js") in r.text
    start = r.text.index('id="scanner-text">') + len('id="scanner-text">')
    texts = json.loads(r.text[start : r.text.index("</script>", start)])
    assert set(texts["refusals"]) == set(SCAN_REFUSALS)
    untranslated = [c for c, text in texts["refusals"].items() if text == SCAN_REFUSALS[c]]
    assert not untranslated, untranslated
    assert texts["refusals"]["card_revoked"] == "此卡或个人码已补办新的，旧的已作废。"
    # Checking people in issues points: organizers' work, and a clerk's only where an organizer named
    # them (tests/api/test_activity_scanners.py); this clerk is named nowhere.
    for outsider in ("alice", "clerk"):
        refused = await client.get(f"/scan?community={world.cid}", headers=world.h[outsider])
        assert refused.status_code == 403, outsider
