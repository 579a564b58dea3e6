"""Message catalogues (Babel .po files under locale/) and locale-aware formatting."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

__all__ = ["DEFAULT_LOCALE", "LOCALES", "Translator", "translator"]

LOCALE_DIR = Path(__file__).parent / "locale"
LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"


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

    def datetime(self, value: datetime | None, tz: str = "Asia/Shanghai", fmt: str = "short") -> str:
        if value is None:
            return ""
        return format_datetime(value, format=fmt, tzinfo=ZoneInfo(tz), locale=self.locale)

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
