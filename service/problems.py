"""The HTTP side of errors: every error as RFC 9457 problem+json (or an error page for a page visit),
in the reader's language.

``service.errors`` holds the errors themselves; this module is the only one that knows how they look on
the wire.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotFoundException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DataError, DBAPIError

from service.errors import DomainError, NotAuthenticated, NotFound
from service.kit.observe import REQUEST_ID
from service.retry import mark_retryable

__all__ = [
    "PROBLEM",
    "add_localiser",
    "exception_handlers",
    "localise",
    "login_redirect",
    "problem",
    "set_error_page",
]

log = logging.getLogger("jifen")
PROBLEM = "application/problem+json"


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
    if status >= 500 and REQUEST_ID.get():  # what a caller quotes to the operators, who find the log line
        body["request_id"] = REQUEST_ID.get()
    return Response(content=body, status_code=status, media_type=PROBLEM, headers=headers)


Localiser = Callable[[Request[Any, Any, Any], str], str]
_localisers: list[Localiser] = []


def add_localiser(localiser: Localiser) -> None:
    """Let the page layer translate problem details for people (``web`` registers its catalogues)."""
    if localiser not in _localisers:
        _localisers.append(localiser)


ErrorPage = Callable[[Request[Any, Any, Any], int, "DomainError"], Response[Any]]
_error_pages: list[ErrorPage] = []


def set_error_page(renderer: ErrorPage) -> None:
    """Let the page layer render errors of page visits as HTML (``web`` registers its error page)."""
    _error_pages[:] = [renderer]


def _page_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any] | None:
    """An HTML page for a browser's page visit (raw JSON never reaches a page), else ``None``."""
    if not _error_pages or not _is_page(request):
        return None
    return _error_pages[0](request, exc.status, exc)


def _localise(request: Request[Any, Any, Any], text: str) -> str:
    for localiser in _localisers:
        text = localiser(request, text)
    return text


def _domain_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    if isinstance(exc, NotAuthenticated) and _is_page(request):
        return login_redirect(request)
    html = _page_error(request, exc)
    if html is not None:
        return html
    params = {**exc.params}
    field_name = params.get("field")
    if isinstance(field_name, str):
        params["field"] = _field_label(request, field_name)
    detail = _fill(_localise(request, exc.template), params, exc.detail)
    errors = None
    if exc.error_templates is not None and exc.errors is not None:
        errors = [
            {**e, "message": _fill(_localise(request, t["message"]), params, e["message"])}
            if "message" in t
            else e
            for t, e in zip(exc.error_templates, exc.errors, strict=True)
        ]
    return problem(exc.status, exc.code, detail, headers=exc.headers, errors=errors)


def localise(request: Request[Any, Any, Any], template: str, params: dict[str, object] | None = None) -> str:
    """``template`` (a msgid) in the reader's language, filled with ``params`` (for non-error messages)."""
    params = params or {}
    return _fill(_localise(request, template), params, template % params if params else template)


def _fill(template: str, params: dict[str, object], fallback: str) -> str:
    if not params:
        return template
    try:
        return template % params
    except (KeyError, TypeError, ValueError):  # a translation that lost a placeholder
        return fallback


def _field_label(request: Request[Any, Any, Any], name: str) -> str:
    """A field's name as readers know it (``msgctxt "field"``), else the name itself."""
    label = _localise(request, f"field\x04{name}")
    return name if "\x04" in label else label


def _public_name(request: Request[Any, Any, Any], key: str) -> str:
    """The name the API gives a parameter (``?scope=``), not the handler's argument (``which``)."""
    handler = request.scope.get("route_handler")
    parameters = getattr(getattr(handler, "parsed_fn_signature", None), "parameters", {})
    found = parameters.get(key)
    alias = getattr(getattr(found, "kwarg_definition", None), "name", None)
    return alias if isinstance(alias, str) and alias else key


def _field_errors(request: Request[Any, Any, Any], extra: Any) -> list[dict[str, str]]:
    """Name the field of each validation error: msgspec says "... - at `$.name`" or "field `name`";
    a request without its JSON body is Litestar's ``KeyError('data')``: the field ``body`` is required."""
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
        elif key == "data" and message == "'data'":
            key, message = "body", MISSING_BODY
        else:
            key = _public_name(request, key)
        errors.append({"field": key, "message": message})
    return errors


def _is_page(request: Request[Any, Any, Any]) -> bool:
    """A page a browser navigated to (not the API): send people to log in instead of a JSON error."""
    return request.method in {"GET", "HEAD"} and not request.url.path.startswith(
        ("/api/", "/schema", "/static/", "/assets/", "/healthz", "/readyz", "/metrics")
    )


def login_redirect(request: Request[Any, Any, Any]) -> Response[Any]:
    """303 to the login page, coming back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Response("", status_code=303, headers={"Location": f"/login?next={quote(target)}"})


MISSING_BODY = "Missing required request body"
NOT_JSON = r"^(?:JSON is malformed|Input data was truncated).*$"
VALIDATION_MESSAGES: tuple[tuple[str, str], ...] = (
    (r"^Expected `str` of length <= (?P<n>\d+)$", "must have at most %(n)s characters"),
    (r"^Expected `str` of length >= (?P<n>\d+)$", "must have at least %(n)s characters"),
    (r"^Expected `(?:array|object)` of length <= (?P<n>\d+)$", "must have at most %(n)s items"),
    (r"^Expected `(?:array|object)` of length >= (?P<n>\d+)$", "must have at least %(n)s items"),
    (r"^Expected `(?:int|float|decimal)` (?:>=|>) (?P<n>-?[\d.]+)$", "must be at least %(n)s"),
    (r"^Expected `(?:int|float|decimal)` (?:<=|<) (?P<n>-?[\d.]+)$", "must be at most %(n)s"),
    (r"^Expected `(?:int|float|decimal)`.*$", "must be a number"),
    (r"^Expected `bool`.*$", "must be yes or no"),
    (r"^Expected `str` matching regex '\^\((?P<choices>[\w|-]+)\)\$'$", "must be one of %(choices)s"),
    (r"^Expected `str` matching regex .*$", "is not in the right format"),
    (r"^Expected `str`.*$", "must be text"),
    (r"^Expected `\w+` with a timezone component.*$", "needs a time zone"),
    (r"^Expected `(?:object|array|null)`.*$", "has the wrong shape"),
    (r"^Invalid (?:enum )?value .*$", "is not one of the allowed choices"),
    (r"^Invalid UUID.*$", "is not a valid id"),
    (r"^Invalid RFC3339 encoded (?:datetime|date|time).*$", "is not a valid date and time"),
    (r"^Object missing required field .*$", "is required"),
    (r"^Missing required (?:query|path|header|cookie) parameter .*$", "is required"),
    (r"^Missing required request body$", "is required"),
    (r"^Object contains unknown field .*$", "is not a known field"),
    (NOT_JSON, "The request is not valid JSON."),
)
"""Validation messages of msgspec and Litestar, as (pattern, msgid with the pattern's groups); each msgid
finishes the sentence "<field> ..." (``VALIDATION_FIELD``)."""
VALIDATION_FALLBACK = "This value is not valid."
VALIDATION_INVALID = "is not valid"
VALIDATION_FIELD = "%(field)s %(message)s."
VALIDATION_JOIN = " "


def _validation_message(request: Request[Any, Any, Any], message: str) -> str:
    """A msgspec/Litestar validation message as the end of a sentence in the reader's language."""
    msgid, params = VALIDATION_INVALID, {}
    for pattern, known in VALIDATION_MESSAGES:
        found = re.match(pattern, message)
        if found:
            msgid, params = known, found.groupdict()
            break
    if "choices" in params:
        params["choices"] = ", ".join(params["choices"].split("|"))
    english = _fill(msgid, params, message)
    return _fill(_localise(request, msgid), params, english)


def _validation_handler(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    errors = [
        {**e, "message": _validation_message(request, e["message"])}
        for e in _field_errors(request, exc.extra)
    ]
    each = _localise(request, VALIDATION_FIELD)
    detail = _localise(request, VALIDATION_JOIN).join(
        _fill(each, {"field": _field_label(request, e["field"]), "message": e["message"]}, e["message"])
        for e in errors
    )
    if not detail:  # no field to name: the whole body (not JSON) or a request the router refused
        whole = _validation_message(request, str(exc.detail))
        detail = whole if whole.endswith((".", "。")) else _localise(request, VALIDATION_FALLBACK)
    return problem(400 if not errors else 422, "invalid_input", detail, errors=errors)


_HTTP_DETAILS = {
    400: "The request is not valid.",
    401: "Log in first.",
    403: "You may not do this.",
    404: "No such page or resource.",
    405: "This address does not take that kind of request.",
    413: "The upload is too large.",
    415: "This kind of upload is not accepted.",
    429: "Too many requests; wait a moment and try again.",
}
"""Details of errors the HTTP layer raises by itself (routing, body size), as msgids."""


def _http_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        log.error("HTTP %s: %s", status, exc.detail)
        return _server_error(request)
    if status == 400 and re.match(NOT_JSON, str(exc.detail)):  # a body that is not JSON: bad input
        return problem(400, "invalid_input", _localise(request, "The request is not valid JSON."))
    code = _HTTP_CODES.get(status, "http_error")
    msgid = _HTTP_DETAILS.get(status)
    html = _page_error(request, DomainError(code, msgid or str(exc.detail), status=status))
    if html is not None:
        return html
    detail = str(exc.detail)
    if msgid is not None and _localise(request, msgid) != msgid:  # keep Litestar's words for English
        detail = _localise(request, msgid)
    return problem(status, code, detail, headers=dict(exc.headers or {}))


def _not_found_handler(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[Any]:
    html = _page_error(request, NotFound("not_found", "No such page or resource."))
    if html is not None:
        return html
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


def _internal_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if mark_retryable(request.scope, exc):
        # A deadlock or busy database: RetryMiddleware drops this response and runs the request again.
        log.info("retryable database failure: %s", type(exc).__name__)
    else:
        log.exception("unhandled error", exc_info=exc)
    return _server_error(request)


def _server_error(request: Request[Any, Any, Any]) -> Response[Any]:
    """A fault on our side: the error page for a page visit, else problem+json (already logged)."""
    message = "Something went wrong on our side."
    html = _page_error(request, DomainError("internal_error", message, status=HTTP_500_INTERNAL_SERVER_ERROR))
    if html is not None:
        return html
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", _localise(request, message))


exception_handlers: dict[Any, Any] = {
    DomainError: _domain_handler,
    DBAPIError: _database_handler,
    ValidationException: _validation_handler,
    NotFoundException: _not_found_handler,
    HTTPException: _http_handler,
    Exception: _internal_handler,
}
