"""Domain errors with stable codes, one class per code, and the ``raises`` declarations of service functions.

Pure: no web framework. ``service.problems`` turns these errors into RFC 9457 problem+json and error pages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

__all__ = [
    "Conflict",
    "DomainError",
    "Forbidden",
    "InvalidCursor",
    "InvalidInput",
    "NotAuthenticated",
    "NotFound",
    "TooManyRequests",
    "declared_errors",
    "raises",
]


class DomainError(Exception):
    """An outcome a user can cause. ``code`` is stable and documented; ``detail`` is for people.

    Each domain declares its errors as subclasses in its ``errors.py``, one class per code, with the
    message (a msgid with ``%(name)s`` placeholders) as the class's ``message``::

        class OutOfStock(Conflict):
            code = "out_of_stock"
            message = "Only %(stock)s left."

        raise OutOfStock(params={"stock": 3})

    Service functions name what they raise with :func:`raises`; the OpenAPI document lists each route's
    errors from those declarations (``service.http.errors_of``).
    """

    status: ClassVar[int] = 400
    code: str = "bad_request"
    message: ClassVar[str] = ""
    """The default detail (a msgid); a raise may pass its own ``detail``."""

    def __init__(
        self,
        code: str | None = None,
        detail: str = "",
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, str]] | None = None,
        params: dict[str, object] | None = None,
    ) -> None:
        self.code = code or type(self).code
        self.template = detail or type(self).message or self.code.replace("_", " ")
        """``detail`` before ``params`` are filled in: the msgid that pages translate."""
        self.params = params or {}
        self.detail = self.template % self.params if self.params else self.template
        if status is not None:
            self.status = status  # type: ignore[misc]
        self.headers = headers or {}
        self.error_templates = errors
        """``errors`` before ``params`` are filled in: each ``message`` is a msgid too."""
        self.errors = (
            [{**e, "message": e["message"] % self.params} if "message" in e else e for e in errors]
            if errors is not None and self.params
            else errors
        )
        super().__init__(f"{self.code}: {self.detail}")


ErrorClass = type[DomainError]
ErrorSource = type[DomainError] | Callable[..., Any]
"""An error class, or a function whose declared errors are included (``raises(points.award)``)."""
_F = TypeVar("_F", bound=Callable[..., Any])


def raises(*sources: ErrorSource) -> Callable[[_F], _F]:
    """Declare the errors a service function can raise: error classes, and the functions it calls whose
    declared errors can pass through (``@raises(OutOfStock, points.hold)``).

    ``service.http.errors_of`` documents each route's errors from these declarations, and a test
    (tests/api/test_error_contract.py) checks each declaration against the function's body.
    """

    def mark(fn: _F) -> _F:
        setattr(fn, "__raises__", (*getattr(fn, "__raises__", ()), *sources))  # noqa: B010
        return fn

    return mark


def declared_errors(fn: ErrorSource) -> tuple[ErrorClass, ...]:
    """The error classes ``fn`` declares, with those of the functions it names expanded (once each)."""
    out: dict[ErrorClass, None] = {}
    seen: set[int] = set()

    def walk(source: ErrorSource) -> None:
        if isinstance(source, type):
            out.setdefault(source, None)
            return
        if id(source) in seen:
            return
        seen.add(id(source))
        for inner in getattr(source, "__raises__", ()):
            walk(inner)

    walk(fn)
    return tuple(out)


class InvalidInput(DomainError):
    status = 422
    code = "invalid_input"


class InvalidCursor(InvalidInput):
    """A list cursor the API did not give out (every paged list shares it)."""

    code = "invalid_cursor"
    message = "The cursor is not one this API gave out."


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class TooManyRequests(DomainError):
    status = 429
    code = "too_many_requests"
