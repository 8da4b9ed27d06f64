"""Error responses: JSON with a stable error_id, the message, and each field with its rule."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from vpbx.domain.errors import Conflict, DomainError, InUse, ValidationFailed


class FieldError(BaseModel):
    field: str
    rule: str
    error_id: str


class ErrorBody(BaseModel):
    """Every error the API returns has this shape."""

    error_id: str
    message: str
    errors: list[FieldError] = []
    usages: list[str] = []


def _body(error: DomainError) -> dict[str, Any]:
    body = ErrorBody(error_id=error.error_id, message=error.message)
    if isinstance(error, ValidationFailed):
        body.errors = [
            FieldError(field=v.field, rule=v.rule, error_id=v.error_id) for v in error.violations
        ]
    if isinstance(error, Conflict):
        body.errors = [FieldError(field=error.field, rule=error.rule, error_id="conflict")]
    if isinstance(error, InUse):
        body.usages = [u.describe() for u in error.usages]
    return body.model_dump()


_UNPARSED = "There was an error parsing the body"


def install(app: FastAPI) -> None:
    async def domain_error(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, DomainError)
        headers = None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            headers = {"Retry-After": str(retry_after)}  # a throttled login (429)
        elif error.status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        extra: dict[str, str] | None = getattr(error, "headers", None)
        if extra:
            headers = {**(headers or {}), **extra}  # e.g. a 416's Content-Range
        return JSONResponse(_body(error), status_code=error.status, headers=headers)

    async def request_error(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        errors = []
        for item in error.errors():
            loc = [str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path")]
            rule = str(item.get("msg", "invalid")).removeprefix("Value error, ")
            if item.get("type") == "extra_forbidden":
                rule = "unknown field (extra fields are not permitted)"
            if item.get("type") == "json_invalid":
                # The location of a JSON syntax error is a character offset, not a field.
                detail = (item.get("ctx") or {}).get("error")
                rule = "the body is not valid JSON"
                rule += f": {detail}" if detail else ""
                rule += f" (at character {loc[0]})" if loc else ""
                loc = []
            errors.append(
                FieldError(
                    field=".".join(loc) or "(body)", rule=rule, error_id=str(item.get("type"))
                )
            )
        body = ErrorBody(
            error_id="validation_failed",
            message="; ".join(f"{e.field}: {e.rule}" for e in errors),
            errors=errors,
        )
        return JSONResponse(body.model_dump(), status_code=422)

    async def http_error(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        ids = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
        body = ErrorBody(
            error_id=ids.get(error.status_code, "http_error"), message=str(error.detail)
        )
        if error.status_code == 400 and error.detail == _UNPARSED:
            # FastAPI's answer to a body its JSON decoder gave up on (e.g. nested too deep).
            body = ErrorBody(
                error_id="malformed_body",
                message="тело запроса не удалось разобрать (неверный JSON или слишком глубокая "
                "вложенность) / " + _UNPARSED,
                errors=[FieldError(field="(body)", rule=_UNPARSED, error_id="malformed_body")],
            )
        return JSONResponse(body.model_dump(), status_code=error.status_code, headers=error.headers)

    async def database_busy(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, OperationalError)
        text = str(error.orig if error.orig is not None else error).lower()
        if "database is locked" not in text:
            raise error
        # SQLite takes one writer at a time: a long write elsewhere (a large configuration
        # import) held the lock past the busy timeout. Nothing was written; the client may
        # simply retry, so this is a 503 in words, not a 500.
        body = ErrorBody(
            error_id="database_busy",
            message="база данных занята другой записью, повторите запрос / "
            "the database is busy with another write, retry the request",
        )
        return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "1"})

    app.add_exception_handler(OperationalError, database_busy)
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, request_error)
    app.add_exception_handler(HTTPException, http_error)
