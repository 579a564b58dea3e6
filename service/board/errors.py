"""Errors of the public board."""

from __future__ import annotations

from service.errors import NotFound

__all__ = ["BoardNotFound"]


class BoardNotFound(NotFound):
    """The board page of an unknown community id or code (the API answers ``community_not_found``)."""

    code = "board_not_found"
    message = "No such notice board."
