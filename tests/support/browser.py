"""Browser tests: a phone-sized context, and a page already logged in as one of the world's people."""

from __future__ import annotations

import os
from typing import Any

from service.accounts import service as accounts
from tests.support.world import SECRET, World

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "PHONE", "fits_width", "logged_in", "member_context", "phone_context"]

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
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "locale": "zh-CN",
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
"""A phone's browser context (390x844, touch, Chinese): ``browser.new_context(**PHONE)``."""


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


def member_context(browser: Any, base: str, world: World, name: str) -> Any:
    """A 390x844 Chinese touch-phone context logged in as ``name`` (login and CSRF cookies for ``base``)."""
    context = browser.new_context(**PHONE)
    context.set_default_timeout(15_000)
    host = base.split("//", 1)[1].split(":")[0]
    member = world.members[name]
    token = accounts.issue_token(member, SECRET)
    context.add_cookies(
        [
            {"name": "jifen_token", "value": token, "domain": host, "path": "/"},
            {"name": "jifen_csrf", "value": f"csrf-{member.phone}", "domain": host, "path": "/"},
        ]
    )
    return context


def fits_width(page: Any) -> None:
    """Nothing on the page is wider than the phone's screen."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
