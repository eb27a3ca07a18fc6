"""Query parameters of the busiest read routes, validated as one pydantic model per request.

FastAPI validates each declared query parameter on its own (alias lookup, a multidict read, a default
deep-copied, one TypeAdapter call): about 16 µs a parameter, 12% of the API's CPU for an inbox page with
its eight (py-spy, tests/bench queries). A route that takes a `QueryModel` instead validates them in one
call, with the same rules, the same 422 (`RequestValidationError`, each error at ("query", name)) and the
same OpenAPI parameters (`documented`, passed as the route's `openapi_extra`).
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound="QueryModel")


class QueryModel(BaseModel):
    """A route's query parameters: unknown ones are ignored, as FastAPI ignores them."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @classmethod
    def parse(cls: type[M], request: Request) -> M:
        """The parameters of this request (a repeated one: its last value, as FastAPI takes it), read
        as Starlette's QueryParams reads them, without building its multidict."""
        query = request.scope["query_string"].decode("latin-1")
        try:
            return cls.model_validate(dict(parse_qsl(query, keep_blank_values=True)))
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from exc


def documented(model: type[QueryModel]) -> dict[str, Any]:
    """The model's fields as the OpenAPI query parameters FastAPI would declare for them (for a route's
    `openapi_extra`, which FastAPI appends to the parameters it declares itself)."""
    schema = model.model_json_schema(by_alias=True)
    parameters = []
    for name, field in model.model_fields.items():
        alias = field.alias or name
        # as FastAPI declares a parameter: no `"default": null` for an optional one
        shown = {k: v for k, v in schema["properties"][alias].items() if k != "default" or v is not None}
        declared: dict[str, Any] = {
            "name": alias,
            "in": "query",
            "required": field.is_required(),
            "schema": shown,
        }
        if field.description:
            declared["description"] = field.description
        parameters.append(declared)
    return {"parameters": parameters}
