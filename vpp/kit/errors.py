"""RFC 9457 problem-details errors: every 4xx/5xx names the field and the rule."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from vpp.domain.errors import DomainError, InvalidParameterError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://vpp.dev/problems/"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


class Problem(Exception):
    """An error the API answers with a problem-details document.

    ``errors`` lists ``{"field", "rule", "message"}`` items; ``field`` is a dotted
    path into the request (``readings[3].ts``).
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        errors: Sequence[dict[str, Any]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or TITLES.get(status, "error").lower().replace(" ", "-")
        self.errors = list(errors)
        self.headers = headers or {}


def not_found(what: str) -> Problem:
    return Problem(404, f"{what} not found", slug="not-found")


def field_error(field: str, rule: str, message: str, status: int = 422) -> Problem:
    return Problem(
        status,
        f"{field}: {message}",
        slug="validation",
        errors=[{"field": field, "rule": rule, "message": message}],
    )


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + problem.slug,
        "title": TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "detail": problem.detail,
    }
    if instance:
        body["instance"] = instance
    if problem.errors:
        body["errors"] = problem.errors
    return JSONResponse(
        body, status_code=problem.status, headers=problem.headers, media_type=PROBLEM_JSON
    )


_UNION_TAGS: set[str] = set()


def register_union_tags(*tags: str) -> None:
    """Name the tags of discriminated unions, which pydantic puts in error locations
    (``body.battery.params``) but which are no field the client wrote."""
    _UNION_TAGS.update(tags)


def format_loc(loc: Sequence[str | int]) -> str:
    """``("body", "readings", 3, "ts")`` -> ``readings[3].ts`` (drop the request part)."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _UNION_TAGS or str(part).startswith("function-"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def validation_problem(errors: Sequence[Any], *, status: int = 422) -> Problem:
    """Turn pydantic errors into one problem naming every bad field and its rule."""
    items = []
    for err in errors:
        field = format_loc(err.get("loc", ()))
        ctx = err.get("ctx") or {}
        cause = ctx.get("error")
        rule = err.get("type", "invalid")
        message = str(err.get("msg", "invalid value"))
        if isinstance(cause, InvalidParameterError):
            field = f"{field}.{cause.field}" if field != "body" else cause.field
            rule = cause.rule
            message = str(cause)
        elif rule in ("extra_forbidden", "unexpected_keyword_argument"):
            rule = "extra_forbidden"
            message = "unknown field (not part of this schema)"
        elif rule == "union_tag_invalid":
            discriminator = str(ctx.get("discriminator", "")).strip("'")
            field = f"{field}.{discriminator}" if field != "body" else discriminator
            message = f"must be one of {ctx.get('expected_tags', '')}"
        elif rule == "json_invalid":
            field = "body"
            message = f"malformed JSON: {ctx.get('error', message)}"
        items.append({"field": field, "rule": rule, "message": message})
    if any(item["rule"] == "json_invalid" for item in items):
        status = 400
    first = items[0] if items else {"field": "body", "message": "invalid"}
    detail = f"{first['field']}: {first['message']}"
    if len(items) > 1:
        detail += f" (and {len(items) - 1} more)"
    return Problem(status, detail, slug="validation", errors=items)


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as problem+json; tracebacks stay in the log."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(validation_problem(exc.errors()), request.url.path)

    @app.exception_handler(ValidationError)
    async def _validation(request: Request, exc: ValidationError) -> JSONResponse:
        return problem_response(validation_problem(exc.errors()), request.url.path)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        if isinstance(exc, InvalidParameterError):
            problem = field_error(exc.field, exc.rule, str(exc))
        else:
            problem = Problem(422, str(exc), slug="validation")
        return problem_response(problem, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
        headers = dict(exc.headers or {})
        return problem_response(Problem(exc.status_code, detail, headers=headers), request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        problem = Problem(500, "internal error; the operator has the details in the log")
        return problem_response(problem, request.url.path)
