"""Static files served like a real site: each file has a versioned URL (``/assets/<hash>/<name>``, the
first 12 hex digits of its SHA-256) that browsers may keep for a year without asking again (immutable),
and text files (scripts, styles, SVG) are gzip-compressed once, at first use, for clients that accept
it. Pages link files with ``{{ asset("app.js") }}``; a changed file gets a new URL, so nobody runs an old
script. ``/static/<name>`` stays for links from before (short-lived, uncompressed)."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from service.errors import NotFound

__all__ = ["CACHE_FOREVER", "ROUTES", "STATIC_DIR", "asset_url", "assets"]

STATIC_DIR = Path(__file__).parent / "static"
CACHE_FOREVER = "public, max-age=31536000, immutable"
COMPRESSED_SUFFIXES = frozenset({".js", ".css", ".svg", ".json", ".txt", ".map"})
GZIP_LEVEL = 9
"""Compressed once per process, so the slowest, smallest level is free."""


@dataclass(frozen=True)
class Asset:
    version: str
    body: bytes
    gzipped: bytes | None
    media_type: str


_ASSETS: dict[str, Asset] = {}


def assets() -> dict[str, Asset]:
    """Every file of the static folder by name (read and compressed on first use)."""
    if not _ASSETS:
        for path in sorted(STATIC_DIR.iterdir()):
            if not path.is_file():
                continue
            body = path.read_bytes()
            gz = gzip.compress(body, GZIP_LEVEL, mtime=0) if path.suffix in COMPRESSED_SUFFIXES else None
            media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if media.startswith("text/") or media in ("application/javascript", "image/svg+xml"):
                media += "; charset=utf-8"
            _ASSETS[path.name] = Asset(hashlib.sha256(body).hexdigest()[:12], body, gz, media)
    return _ASSETS


def asset_url(name: str) -> str:
    """The versioned URL of a static file (a template global: ``{{ asset("app.css") }}``)."""
    found = assets().get(name)
    if found is None:
        raise KeyError(f"no static file {name!r} in {STATIC_DIR}")
    return f"/assets/{found.version}/{name}"


class AssetNotFound(NotFound):
    code = "asset_not_found"
    message = "No such file."


@get("/assets/{version:str}/{name:str}", include_in_schema=False, cache_control=None)
async def asset(request: Request[Any, Any, Any], version: str, name: str) -> Response[bytes] | Redirect:
    """One static file at its versioned URL: cached for a year, gzip when the client takes it. An older
    version's URL (a page cached from before a release) is sent to the current one."""
    found = assets().get(name)
    if found is None:
        raise AssetNotFound()
    if version != found.version:
        return Redirect(asset_url(name), status_code=307)
    return _serve(found, request.headers.get("if-none-match"), request.headers.get("accept-encoding", ""))


def _serve(found: Asset, if_none_match: str | None, accept_encoding: str) -> Response[bytes]:
    headers = {"Cache-Control": CACHE_FOREVER, "ETag": f'"{found.version}"', "Vary": "Accept-Encoding"}
    if if_none_match == headers["ETag"]:
        return Response(b"", status_code=304, headers=headers)
    body = found.body
    if found.gzipped is not None and "gzip" in accept_encoding:
        body = found.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=found.media_type, headers=headers)


ROUTES: list[Any] = [asset]
