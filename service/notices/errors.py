"""Errors of notices, one class per code."""

from __future__ import annotations

from service.errors import NotFound

__all__ = ["NoticeNotFound"]


class NoticeNotFound(NotFound):
    code = "notice_not_found"
    message = "No such notice."
