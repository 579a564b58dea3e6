"""Domain errors with stable codes, and the handlers that turn every error into RFC 9457 problem+json."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotFoundException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DataError, DBAPIError

from service.retry import mark_retryable

__all__ = [
    "Conflict",
    "DomainError",
    "Forbidden",
    "InvalidInput",
    "NotAuthenticated",
    "NotFound",
    "TooManyRequests",
    "add_localiser",
    "exception_handlers",
    "localise",
    "login_redirect",
    "problem",
]

log = logging.getLogger("jifen")
PROBLEM = "application/problem+json"


class DomainError(Exception):
    """An outcome a user can cause. ``code`` is stable and documented; ``detail`` is for people."""

    status: ClassVar[int] = 400
    code: str = "bad_request"

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
        self.template = detail or self.code.replace("_", " ")
        """``detail`` before ``params`` are filled in: the msgid that pages translate."""
        self.params = params or {}
        self.detail = self.template % self.params if self.params else self.template
        if status is not None:
            self.status = status  # type: ignore[misc]
        self.headers = headers or {}
        self.errors = errors
        super().__init__(f"{self.code}: {self.detail}")


class InvalidInput(DomainError):
    status = 422
    code = "invalid_input"


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


_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal server error",
}
_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, str]] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "status": status,
        "title": _TITLES.get(status, "Error"),
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return Response(content=body, status_code=status, media_type=PROBLEM, headers=headers)


Localiser = Callable[[Request[Any, Any, Any], str], str]
_localisers: list[Localiser] = []


def add_localiser(localiser: Localiser) -> None:
    """Let the page layer translate problem details for people (``web`` registers its catalogues)."""
    if localiser not in _localisers:
        _localisers.append(localiser)


def _localise(request: Request[Any, Any, Any], text: str) -> str:
    for localiser in _localisers:
        text = localiser(request, text)
    return text


def localise(request: Request[Any, Any, Any], text: str) -> str:
    """``text`` (an English msgid) in the reader's language, as problem details are (CSV headers)."""
    return _localise(request, text)


def _domain_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    if isinstance(exc, NotAuthenticated) and _is_page(request):
        return login_redirect(request)
    detail = _localise(request, exc.template)
    if exc.params:
        try:
            detail = detail % exc.params
        except (KeyError, TypeError, ValueError):  # a translation that lost a placeholder
            detail = exc.detail
    errors = (
        [{**e, "message": _localise(request, e.get("message", ""))} for e in exc.errors]
        if exc.errors is not None
        else None
    )
    return problem(exc.status, exc.code, detail, headers=exc.headers, errors=errors)


def _field_errors(extra: Any) -> list[dict[str, str]]:
    """Name the field of each validation error: msgspec says "... - at `$.name`" or "field `name`"."""
    errors: list[dict[str, str]] = []
    for item in extra if isinstance(extra, list) else []:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "invalid"))
        key = str(item.get("key") or item.get("source") or "body")
        found = re.search(r"at `\$\.([^`]+)`", message) or re.search(r"field `([^`]+)`", message)
        if found and key in {"data", "body"}:
            key = found.group(1)
            message = re.sub(r"\s*- at `[^`]+`", "", message)
        errors.append({"field": key, "message": message})
    return errors


def _is_page(request: Request[Any, Any, Any]) -> bool:
    """A page a browser navigated to (not the API): send people to log in instead of a JSON error."""
    return request.method in {"GET", "HEAD"} and not request.url.path.startswith(
        ("/api/", "/schema", "/static/")
    )


def login_redirect(request: Request[Any, Any, Any]) -> Response[Any]:
    """303 to the login page, coming back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Response("", status_code=303, headers={"Location": f"/login?next={quote(target)}"})


def _validation_handler(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    errors = _field_errors(exc.extra)
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or str(exc.detail)
    return problem(400 if not errors else 422, "invalid_input", detail, errors=errors)


def _http_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    if status >= 500:
        log.error("HTTP %s: %s", status, exc.detail)
        return problem(status, "internal_error", "Something went wrong on our side.")
    code = _HTTP_CODES.get(status, "http_error")
    return problem(status, code, str(exc.detail), headers=dict(exc.headers or {}))


def _not_found_handler(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[Any]:
    return problem(404, "not_found", _localise(request, "No such page or resource."))


def _database_handler(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[dict[str, Any]]:
    # The database refused a value the schemas let through (a NUL character in text on PostgreSQL,
    # a number out of range: SQLSTATE class 22): the caller's input, so a 422, not a 500.
    # The request's transaction is rolled back. Anything else is a fault on our side.
    sqlstate = str(getattr(exc.orig, "sqlstate", "") or getattr(exc.orig, "pgcode", "") or "")
    if not (isinstance(exc, DataError) or sqlstate.startswith("22")):
        return _internal_handler(request, exc)
    log.warning("database refused a value: %s", str(exc.orig)[:200])
    detail = _localise(request, "Some of the input cannot be stored; remove unusual characters.")
    return problem(422, "invalid_input", detail)


def _internal_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if mark_retryable(request.scope, exc):
        # A deadlock or busy database: RetryMiddleware drops this response and runs the request again.
        log.info("retryable database failure: %s", type(exc).__name__)
    else:
        log.exception("unhandled error", exc_info=exc)
    detail = _localise(request, "Something went wrong on our side.")
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", detail)


exception_handlers: dict[Any, Any] = {
    DomainError: _domain_handler,
    DBAPIError: _database_handler,
    ValidationException: _validation_handler,
    NotFoundException: _not_found_handler,
    HTTPException: _http_handler,
    Exception: _internal_handler,
}
