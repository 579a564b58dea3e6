"""What each kind of notice says (msgids the catalogues translate) and the text message it sends."""

from __future__ import annotations

from typing import Any

from service.notices.models import NoticeKind

__all__ = ["NOTICES_SHOWN_MAX", "NOTICE_TEXTS", "SMS_TEXTS", "sms_text"]

NOTICES_SHOWN_MAX = 100
"""Notices listed at most (newest first); older ones stay in the table."""

NOTICE_TEXTS: dict[NoticeKind, str] = {
    "wish_offered": "The wish “%(title)s” was dispatched to you. "
    "Accept or decline it within %(hours)s hours.",
    "wish_dispatched": "Your wish “%(title)s” was dispatched to volunteer %(volunteer)s.",
    "wish_accepted": "Volunteer %(volunteer)s took your wish “%(title)s” "
    "and may call you from a relay number.",
}
"""The in-app text of each kind (English msgids; the reader's catalogue translates them)."""

SMS_TEXTS: dict[NoticeKind, str] = {
    "wish_offered": "【积分】微心愿“%(title)s”派给了您，请在 %(hours)s 小时内登录接单或说明原因。",
    "wish_dispatched": "【积分】您的微心愿“%(title)s”已派给志愿者 %(volunteer)s。",
    "wish_accepted": "【积分】志愿者 %(volunteer)s 已接下您的微心愿“%(title)s”，可能用隐私号给您来电。",
}
"""The text message of each kind (residents read them in Chinese; the SMS login code is Chinese too)."""


def sms_text(kind: NoticeKind, params: dict[str, Any]) -> str:
    return SMS_TEXTS[kind] % params
