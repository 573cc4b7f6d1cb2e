"""The API's error bodies and an OpenAPI schema that documents every answer the API gives.

FastAPI documents a route's 200 and its own 422 (in a shape the advisor does not send). The
guards in front of the routes answer 400, 408, 413, 415, 429 and 503 on every ``/api/`` route,
and the limits of a message come from the settings; ``advisor_openapi`` adds all of that, so
a client generated from the schema (or schemathesis) sees what is really sent.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from server.settings import Settings

__all__ = [
    "ErrorResponse",
    "FieldError",
    "ValidationErrorResponse",
    "advisor_openapi",
    "errors",
]


class ErrorResponse(BaseModel):
    """Every client or server error of the API: one sentence naming the cause."""

    detail: str = Field(description="What is wrong, in one sentence.")


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where: the field's path in the request.")
    msg: str
    type: str | None = None


class ValidationErrorResponse(ErrorResponse):
    """A request that does not fit the schema or the advisor's limits (422)."""

    errors: list[FieldError] = Field(
        default_factory=list, description="One entry per field that is wrong, when known."
    )


_WHY = {
    400: "the body is not valid UTF-8 or JSON, or it is nested too deeply",
    401: "missing or wrong credentials",
    404: "not found, or switched off",
    408: "the request body did not arrive in time",
    413: "the request body is larger than ADVISOR_MAX_BODY_BYTES",
    415: "the body is not application/json",
    422: "the request does not fit the schema or the advisor's limits",
    429: "over the per-client rate limit or a daily cap (see Retry-After)",
    503: "the advisor is starting, or the request took longer than its time limit",
}
# What the guards (server/guards.py) may answer on any /api/ route, and on routes with a body.
_GUARD_CODES = (408, 413, 429, 503)
_BODY_CODES = (400, 415)


def errors(*codes: int, why: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each code with the advisor's error body, described by
    ``why`` or the general reason."""
    return {
        code: {
            "model": ValidationErrorResponse if code == 422 else ErrorResponse,
            "description": (why or {}).get(code, _WHY.get(code, "error")),
        }
        for code in codes
    }


def advisor_openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """The schema FastAPI builds, completed with the guards' answers and the settings' limits."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorResponse, FieldError, ValidationErrorResponse):
        definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(definition.pop("$defs", {}))
        components[model.__name__] = definition
    # FastAPI's own 422 shape is never sent (server/app.py answers every 422 in ours)
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            codes: list[int] = []
            if path.startswith("/api/"):
                codes += _GUARD_CODES
                if "requestBody" in operation and path != "/api/teams":
                    codes += _BODY_CODES
            else:
                codes.append(503)  # not ready yet, or over the time limit
            if operation.get("parameters") or "requestBody" in operation:
                codes.append(422)
            for code in codes:
                responses.setdefault(str(code), _response(code))
            for code, response in responses.items():
                if code[0] in "45":
                    # every error is the JSON of server.app's handlers, whatever the route's
                    # response class (FastAPI would document a CSV route's 401 as CSV)
                    response.update(_response(int(code), response.get("description")))
            if path == "/api/search":
                _limit_query(operation, settings)
    _limit_message(components, settings)
    app.openapi_schema = schema
    return schema


def _response(code: int, description: str | None = None) -> dict[str, Any]:
    model = "ValidationErrorResponse" if code == 422 else "ErrorResponse"
    if not description or description == "Validation Error":  # FastAPI's default wording
        description = _WHY.get(code, "error")
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}},
    }


# The length limits are settings, not constants of the models: state them as set.
def _limit_message(components: dict[str, Any], settings: Settings) -> None:
    message = components.get("ChatRequest", {}).get("properties", {}).get("message")
    if message is not None:
        message.update(minLength=1, maxLength=settings.max_message_chars)


def _limit_query(operation: dict[str, Any], settings: Settings) -> None:
    for parameter in operation.get("parameters", []):
        if parameter.get("name") == "q":
            parameter["schema"].update(minLength=1, maxLength=settings.max_query_chars)
