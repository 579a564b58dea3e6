"""Message catalogues (Babel .po files under locale/) and locale-aware formatting."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_skeleton, format_time, get_datetime_format
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

__all__ = ["DEFAULT_LOCALE", "DEFAULT_TIMEZONE", "LOCALES", "Translator", "translator"]

LOCALE_DIR = Path(__file__).parent / "locale"
LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
DEFAULT_TIMEZONE = "Asia/Shanghai"
"""Where a moment is shown when the page names no community (each community has its own time zone)."""
DATE_STYLE: Final = "long"
TIME_STYLE: Final = "short"
"""The one date and time style of every page (Babel's named formats, so each locale reads naturally)."""


def _local(value: dt.datetime, tz: str | None) -> dt.datetime:
    """``value`` in ``tz``; a naive value is UTC (as the database stores every moment)."""
    aware = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
    return aware.astimezone(ZoneInfo(tz or DEFAULT_TIMEZONE))


class Translator:
    """gettext for one locale. Every ``*.po`` file in the locale's folder is merged (one per domain)."""

    def __init__(self, locale: str, messages: dict[str, str]) -> None:
        self.locale = locale
        self.messages = messages

    def gettext(self, message: str, **variables: object) -> str:
        text = self.messages.get(message) or message
        return text % variables if variables else text

    def pgettext(self, context: str, message: str, **variables: object) -> str:
        """``message`` as meant in ``context`` (``msgctxt``): "Member" the role is not "Member" of a team."""
        text = self.messages.get(f"{context}\x04{message}") or self.gettext(message)
        return text % variables if variables else text

    def ngettext(self, singular: str, plural: str, n: int, **variables: object) -> str:
        text = self.gettext(singular if n == 1 else plural)
        return text % {"num": n, **variables}

    def datetime(self, value: dt.datetime | None, tz: str | None = None, *_legacy: object) -> str:
        """A moment in the community's time zone, in this locale's one style (2026年11月23日 17:34)."""
        if value is None:
            return ""
        local = _local(value, tz)
        return str(get_datetime_format(DATE_STYLE, locale=self.locale)).format(
            format_time(local, TIME_STYLE, locale=self.locale),
            format_date(local, DATE_STYLE, locale=self.locale),
        )

    def date(self, value: dt.datetime | dt.date | str | None, tz: str | None = None) -> str:
        """A day (a moment is first moved into ``tz``); ``YYYYMMDD`` and ``YYYY-MM-DD`` strings too."""
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            text, digits = value, value.replace("-", "")
            try:
                value = dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
            except ValueError:  # not a day: show it as it came rather than fail the page
                return text
        if isinstance(value, dt.datetime):
            value = _local(value, tz).date()
        return format_date(value, DATE_STYLE, locale=self.locale)

    def time(self, value: dt.datetime | None, tz: str | None = None) -> str:
        return "" if value is None else format_time(_local(value, tz), TIME_STYLE, locale=self.locale)

    def month(self, value: dt.date | str | None) -> str:
        """A calendar month (``YYYY-MM`` or a date): 2026年11月 / November 2026."""
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            text = value
            try:
                value = dt.date(int(text[:4]), int(text[5:7]), 1)
            except ValueError:
                return text
        return format_skeleton("yMMMM", value, locale=self.locale)

    def span(self, start: dt.datetime | None, end: dt.datetime | None, tz: str | None = None) -> str:
        """From ``start`` to ``end``; the end's day is left out when it is the start's day."""
        if start is None or end is None:
            return self.datetime(start or end, tz)
        same_day = _local(start, tz).date() == _local(end, tz).date()
        return f"{self.datetime(start, tz)} – {self.time(end, tz) if same_day else self.datetime(end, tz)}"

    def hours(self, minutes: int | float | None) -> str:
        """Service hours from minutes, one decimal, with the unit: "0.5 小时" / "0.5 h"."""
        return self.gettext("%(h)s h", h=self.hours_number(minutes))

    def hours_number(self, minutes: int | float | None) -> str:
        hours = (Decimal(minutes or 0) / 60).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        return format_decimal(hours, format="#,##0.#", locale=self.locale)

    def number(self, value: int | float) -> str:
        return format_decimal(value, locale=self.locale)


@cache
def translator(locale: str) -> Translator:
    if locale not in LOCALES:
        locale = DEFAULT_LOCALE
    messages: dict[str, str] = {}
    folder = LOCALE_DIR / locale / "LC_MESSAGES"
    for po in sorted(folder.glob("*.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        for message in catalog:
            if message.id and isinstance(message.id, str) and message.string and not message.fuzzy:
                key = f"{message.context}\x04{message.id}" if message.context else message.id
                messages[key] = str(message.string)
    return Translator(locale, messages)
