"""Static files served like a real site: versioned URLs cached for a year, gzip for text files, pages
link the versioned URLs."""

from __future__ import annotations

import gzip
import re
from typing import Any

from service.web.assets import CACHE_FOREVER, STATIC_DIR, asset_url, assets
from tests.support.world import World


async def test_a_versioned_file_is_cached_for_a_year_and_gzipped(client: Any) -> None:
    url = asset_url("echarts.min.js")
    assert re.fullmatch(r"/assets/[0-9a-f]{12}/echarts\.min\.js", url)
    r = await client.get(url, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["cache-control"] == CACHE_FOREVER
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["content-type"].startswith(("application/javascript", "text/javascript"))
    raw = (STATIC_DIR / "echarts.min.js").read_bytes()
    assert len(r.content) == len(raw)  # httpx undid the gzip ...
    assert len(assets()["echarts.min.js"].gzipped or b"") < len(raw) // 2  # ... which more than halved it
    assert gzip.decompress(assets()["echarts.min.js"].gzipped or b"") == raw
    # Without gzip in Accept-Encoding the plain file; a revalidation is a 304 with no body.
    plain = await client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == raw
    again = await client.get(url, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_an_old_version_is_sent_to_the_current_one_and_an_unknown_file_is_404(client: Any) -> None:
    old = await client.get("/assets/000000000000/app.js", follow_redirects=False)
    assert old.status_code == 307 and old.headers["location"] == asset_url("app.js")
    assert "immutable" not in old.headers.get("cache-control", "")
    missing = await client.get(f"/assets/{assets()['app.js'].version}/nothing.js")
    assert missing.status_code == 404


async def test_pages_link_the_versioned_files(client: Any, world: World) -> None:
    page = await client.get("/", headers=world.h["alice"])
    assert page.status_code == 200
    linked = set(re.findall(r'(?:src|href)="(/(?:assets|static)/[^"]+)"', page.text))
    assert asset_url("app.js") in linked and asset_url("app.css") in linked
    assert not [u for u in linked if u.startswith("/static/")], linked
