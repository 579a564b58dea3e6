"""Rendering pages: one Jinja environment, the request's locale, the signed-in member."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response
from litestar.datastructures import Cookie

from service.accounts.service import Actor
from service.errors import login_redirect as redirect_to_login
from service.http import CSRF_COOKIE, LANG_COOKIE
from service.web.i18n import DEFAULT_LOCALE, LOCALES, translator

__all__ = ["locale_of", "page", "redirect_to_login"]

TEMPLATES = Path(__file__).parent / "templates"
env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "svg"]),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
env.newstyle_gettext = True  # type: ignore[attr-defined]


def locale_of(request: Request[Any, Any, Any]) -> str:
    """``?lang=`` wins (and is remembered), then the cookie, then Chinese."""
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or DEFAULT_LOCALE
    wanted = wanted.replace("-", "_")
    if wanted.lower().startswith("en"):
        return "en"
    return wanted if wanted in LOCALES else DEFAULT_LOCALE


def page(
    request: Request[Any, Any, Any],
    template: str,
    actor: Actor | None = None,
    *,
    status: int = 200,
    **context: Any,
) -> Response[str]:
    locale = locale_of(request)
    t = translator(locale)
    html = env.get_template(template).render(
        request=request,
        actor=actor,
        lang=locale,
        html_lang="zh-CN" if locale == "zh_CN" else "en",
        _=t.gettext,
        gettext=t.gettext,
        ngettext=t.ngettext,
        pgettext=t.pgettext,
        fmt_dt=t.datetime,
        fmt_num=t.number,
        path=request.url.path,
        **context,
    )
    cookies = []
    if request.query_params.get("lang"):
        cookies.append(
            Cookie(key=LANG_COOKIE, value=locale, max_age=365 * 24 * 3600, samesite="lax", path="/")
        )
    if actor is not None and not request.cookies.get(CSRF_COOKIE):
        import secrets

        cookies.append(Cookie(key=CSRF_COOKIE, value=secrets.token_urlsafe(24), samesite="strict", path="/"))
    return Response(
        html,
        status_code=status,
        media_type="text/html; charset=utf-8",
        cookies=cookies,
        headers={"Cache-Control": "no-store", "Vary": "Cookie"},
    )
