"""Rendering pages: one Jinja environment, the request's locale, the signed-in member."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from litestar import Request, Response
from litestar.datastructures import Cookie
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.accounts.models import Community
from service.errors import DomainError
from service.http import CSRF_COOKIE, LANG_COOKIE, MODE_COOKIE
from service.kit.script_json import script_json
from service.problems import login_redirect as redirect_to_login
from service.web.assets import asset_url
from service.web.i18n import DEFAULT_LOCALE, LOCALES, Translator, translator

__all__ = [
    "JS_TEXT",
    "HomePanel",
    "Site",
    "context_of",
    "locale_of",
    "mode_of",
    "page",
    "problem_text",
    "redirect_to_login",
]

HomePanel = Callable[[AsyncSession, Actor, Community], Awaitable[dict[str, Any]]]
"""A home-page panel's loader: the panel's data for one community card."""


@dataclasses.dataclass(frozen=True)
class Site:
    """Every page module's routes, home panels and administration links (``service.web.site`` builds it
    once; ``create_app`` keeps it in ``app.state.site``, where :func:`page` and the home page read it)."""

    routes: tuple[Any, ...]
    home_panels: tuple[tuple[str, HomePanel], ...]
    admin_links: tuple[tuple[str, str], ...]


TEMPLATES = Path(__file__).parent / "templates"
env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "svg"]),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
env.newstyle_gettext = True  # type: ignore[attr-defined]
env.globals["asset"] = asset_url  # versioned static URLs (service/web/assets.py)


def _translator_of(ctx: Context) -> Translator:
    return translator(str(ctx.get("lang") or DEFAULT_LOCALE))


def _tz_of(ctx: Context, tz: str | None) -> str | None:
    """The time zone a filter shows a moment in: the argument, else the page's ``tz``, else the default."""
    return tz or ctx.get("tz") or None


@pass_context
def _datetime_filter(ctx: Context, value: Any, tz: str | None = None) -> str:
    return _translator_of(ctx).datetime(value, _tz_of(ctx, tz))


@pass_context
def _date_filter(ctx: Context, value: Any, tz: str | None = None) -> str:
    return _translator_of(ctx).date(value, _tz_of(ctx, tz))


@pass_context
def _time_filter(ctx: Context, value: Any, tz: str | None = None) -> str:
    return _translator_of(ctx).time(value, _tz_of(ctx, tz))


@pass_context
def _month_filter(ctx: Context, value: Any) -> str:
    return _translator_of(ctx).month(value)


@pass_context
def _hours_filter(ctx: Context, minutes: Any) -> str:
    return _translator_of(ctx).hours(minutes)


@pass_context
def _hours_number_filter(ctx: Context, minutes: Any) -> str:
    return _translator_of(ctx).hours_number(minutes)


env.filters.update(
    datetime=_datetime_filter,
    date=_date_filter,
    time=_time_filter,
    month=_month_filter,
    hours=_hours_filter,
    hours_number=_hours_number_filter,
    script_json=script_json,
    iso=lambda moment: moment.astimezone(UTC).isoformat(),  # a moment for scripts (data-countdown)
)
"""Every date, time and hour count on a page goes through these (one style per locale, see i18n.py);
data for scripts goes through ``script_json`` (service/kit/script_json.py), never ``tojson`` or ``|safe``."""


JS_TEXT = {
    "network": "No connection; check the network and try again.",
    "http_error": "Something went wrong on our side.",
    "geo_denied": "Location access was refused; allow it for this site in the browser settings, then retry.",
    "geo_unavailable": "Your location cannot be found right now. Move to an open place and try again.",
    "geo_timeout": "Finding your location took too long. Try again.",
    "geo_unsupported": "This browser cannot share your location.",
    "confirm_spend": "Spend {points} points?",
    "import_report": "{created} added, {updated} updated",
    "import_line": "Line {line}: {message}",
    "checked_in": "Checked in: {activity_title}",
    "checked_out": "Checked out: {activity_title} ({minutes} min, +{points_awarded} points)",
    "already_in": "Already checked in; no need to scan again.",
    "proposal_pending": "Proposed: the change takes effect when another administrator approves it.",
}
"""Messages the page scripts show (msgids; base.html hands them over translated)."""


def problem_text(t: Translator, problem: DomainError | str) -> str:
    """What went wrong, in ``t``'s language: a DomainError's msgid filled with its params, or a msgid."""
    if not isinstance(problem, DomainError):
        return t.gettext(problem)
    params = dict(problem.params)
    if isinstance(params.get("field"), str):
        params["field"] = t.pgettext("field", str(params["field"]))
    try:
        return t.gettext(problem.template) % params if params else t.gettext(problem.template)
    except (KeyError, TypeError, ValueError):
        return problem.detail


def locale_of(request: Request[Any, Any, Any]) -> str:
    """``?lang=`` wins (and is remembered), then the cookie, then Chinese."""
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or DEFAULT_LOCALE
    wanted = wanted.replace("-", "_")
    if wanted.lower().startswith("en"):
        return "en"
    return wanted if wanted in LOCALES else DEFAULT_LOCALE


MODES = ("standard", "elder")
"""Page modes: ``elder`` is 长辈版 (MIIT's ageing-friendly rules: 18 px text, 60 px targets, a simple
home)."""
COOKIE_YEAR_SECONDS = 365 * 24 * 3600


def mode_of(request: Request[Any, Any, Any]) -> str:
    """``?mode=`` wins (and is remembered), then the cookie, then the standard pages."""
    wanted = request.query_params.get("mode") or request.cookies.get(MODE_COOKIE) or "standard"
    return wanted if wanted in MODES else "standard"


def switch_url(request: Request[Any, Any, Any], **changes: str) -> str:
    """This page's address with ``changes`` in its query (the mode switch keeps ``?community=``)."""
    query = {k: v for k, v in request.query_params.items() if k not in changes}
    return request.url.path + "?" + urlencode({**query, **changes})


def page(
    request: Request[Any, Any, Any],
    template: str,
    actor: Actor | None = None,
    *,
    status: int = 200,
    **context: Any,
) -> Response[str]:
    locale = locale_of(request)
    mode = mode_of(request)
    t = translator(locale)
    site: Site | None = getattr(request.app.state, "site", None)
    if site is not None:  # the administration sub-navigation, assembled once by create_app
        context.setdefault("admin_links", site.admin_links)
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
        fmt_date=t.date,
        fmt_span=t.span,
        problem=lambda p: problem_text(t, p),
        js_text={key: t.gettext(text) for key, text in JS_TEXT.items()},
        fmt_num=t.number,
        path=request.url.path,
        elder=mode == "elder",
        mode_url=switch_url(request, mode="standard" if mode == "elder" else "elder"),
        **context,
    )
    cookies = []
    if request.query_params.get("lang"):
        cookies.append(
            Cookie(key=LANG_COOKIE, value=locale, max_age=COOKIE_YEAR_SECONDS, samesite="lax", path="/")
        )
    if request.query_params.get("mode"):
        cookies.append(
            Cookie(key=MODE_COOKIE, value=mode, max_age=COOKIE_YEAR_SECONDS, samesite="lax", path="/")
        )
    if actor is not None and not request.cookies.get(CSRF_COOKIE):
        cookies.append(Cookie(key=CSRF_COOKIE, value=secrets.token_urlsafe(24), samesite="strict", path="/"))
    return Response(
        html,
        status_code=status,
        media_type="text/html; charset=utf-8",
        cookies=cookies,
        headers={"Cache-Control": "no-store", "Vary": "Cookie"},
    )


# ---------------------------------------------------------------- foundation: view models on pages


def context_of(view: Any) -> dict[str, Any]:
    """A view model's fields as template variables (``page(..., **context_of(view))``), not copied."""
    return {f.name: getattr(view, f.name) for f in dataclasses.fields(view)}
