"""Browser tests: a phone-sized context, and a page already logged in as one of the world's people."""

from __future__ import annotations

import os
from typing import Any

from service.accounts import service as accounts
from tests.support.world import SECRET, World

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "logged_in", "phone_context"]

CHROMIUM = os.environ.get("JIFEN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
"""Debian's Chromium and its switches for every browser test (a test with a fake camera adds its own)."""


def logged_in(context: Any, base: str, world: World, name: str) -> Any:
    """A new page of ``context`` with ``name``'s login and CSRF cookies set for ``base``."""
    token = accounts.issue_token(world.members[name], SECRET)
    host = base.split("//", 1)[1].split(":")[0]
    context.add_cookies(
        [
            {"name": "jifen_token", "value": token, "domain": host, "path": "/"},
            {"name": "jifen_csrf", "value": f"csrf-{name}", "domain": host, "path": "/"},
        ]
    )
    return context.new_page()


def phone_context(browser: Any) -> Any:
    """A 360 px wide Chinese mobile context."""
    context = browser.new_context(viewport={"width": 360, "height": 800}, locale="zh-CN", is_mobile=True)
    context.set_default_timeout(15_000)
    return context
