"""Every visible string of the foundation pages has a Chinese translation, and Chinese is the default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel.messages.extract import extract_from_dir

from service.web.i18n import translator
from service.web.pages import ROLE_NAMES
from tests.support.world import World

ROOT = Path(__file__).resolve().parent.parent.parent
FOUNDATION = ("base.html", "login.html", "home.html", "error.html", "admin/")


def _foundation_messages() -> list[tuple[str | None, str]]:
    found: list[tuple[str | None, str]] = []
    method_map = [
        ("service/web/templates/**.html", "jinja2"),
        ("service/web/pages.py", "python"),
    ]
    options = {"service/web/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    for filename, _lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map=options
    ):
        if filename == "service/web/pages.py" or filename.startswith(
            tuple(f"service/web/templates/{f}" for f in FOUNDATION)
        ):
            msgid = message if isinstance(message, str) else message[0]
            found.append((context, msgid))
    return found


def test_every_foundation_string_is_translated_into_chinese() -> None:
    messages = _foundation_messages()
    assert len(messages) >= 30
    zh = translator("zh_CN")
    missing = [
        (ctx, msgid)
        for ctx, msgid in messages
        if (zh.pgettext(ctx, msgid) if ctx else zh.gettext(msgid)) == msgid
    ]
    assert not missing, f"no Chinese for: {missing}"


def test_role_names_in_both_languages() -> None:
    zh, en = translator("zh_CN"), translator("en")
    shown = {r: zh.pgettext("role", name) for r, name in ROLE_NAMES.items()}
    assert shown == {
        "admin": "管理员",
        "organizer": "组织者",
        "clerk": "积分超市管理员",
        "reviewer": "评议人",
        "partner": "联盟商家",
        "member": "居民/志愿者",
        "platform_admin": "平台管理员",
    }
    assert en.pgettext("role", ROLE_NAMES["clerk"]) == "Store clerk"


async def test_pages_are_chinese_by_default_and_english_on_request(client: Any, world: World) -> None:
    r = await client.get("/login")
    assert r.status_code == 200 and '<html lang="zh-CN">' in r.text
    assert "登录" in r.text and "手机号" in r.text and "Log in" not in r.text
    r = await client.get("/login?lang=en")
    assert '<html lang="en">' in r.text and "Log in" in r.text and "登录" not in r.text
    assert "jifen_lang=en" in r.headers["set-cookie"]
    r = await client.get("/login")  # the cookie keeps English
    assert "Log in" in r.text
    client.cookies.clear()
    r = await client.get("/", headers=world.h["alice"], follow_redirects=False)
    assert r.status_code == 200 and "alice，您好" in r.text and "测试社区" in r.text


async def test_pages_redirect_to_login_and_keep_the_way_back(client: Any) -> None:
    r = await client.get("/admin?community=x", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/admin%3Fcommunity%3Dx"
    r = await client.get("/login?next=//evil.example/x")
    assert 'data-next="/"' in r.text  # no open redirect
