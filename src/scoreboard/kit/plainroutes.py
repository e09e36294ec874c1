"""Read a route's plain inputs (query, header and path values) without FastAPI solving its dependencies each time."""

from __future__ import annotations

import inspect
import types
import typing
import uuid
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Request, Response, params
from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticUndefined

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
# The values a plain input may hold: what a query string, a header or a path segment says without a schema.
PLAIN = (int, str, float, bool, uuid.UUID)
REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True, slots=True)
class Input:
    """One endpoint argument read from the request: where, under which key, validated by which adapter."""

    name: str
    where: str  # "query", "header" or "path"
    key: str
    adapter: TypeAdapter[Any]
    default: Any  # REQUIRED when the request must carry it


def _plain(annotation: Any) -> bool:
    """Whether an annotation is one plain type, or one plain type or None."""
    if isinstance(annotation, type):
        return issubclass(annotation, PLAIN)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = [a for a in typing.get_args(annotation) if a is not type(None)]
        return len(kinds) == 1 and _plain(kinds[0])
    return False


def _input(parameter: inspect.Parameter, hint: Any, path_params: Collection[str]) -> Input | None:
    """How to read one endpoint argument, or None when it is not a plain query, header or path value."""
    info: params.Param | None = None
    annotation = hint
    if typing.get_origin(hint) is Annotated:
        annotation, *metadata = typing.get_args(hint)
        if any(isinstance(m, params.Depends) for m in metadata):
            return None
        found = [m for m in metadata if isinstance(m, params.Param)]
        info = found[-1] if found else None
    if not _plain(annotation) or (info is not None and info.validation_alias not in (None, info.alias)):
        return None
    default = parameter.default
    if default is REQUIRED and info is not None:
        default = info.default
    if default is PydanticUndefined:
        default = REQUIRED
    name = parameter.name
    if isinstance(info, params.Query):
        where, key = "query", info.alias or name
    elif isinstance(info, params.Header):
        where, key = "header", info.alias or (name.replace("_", "-") if info.convert_underscores else name)
    elif isinstance(info, params.Path) or (info is None and name in path_params):
        where, key = "path", name
    else:
        return None  # a cookie, a form field, a body, or a value FastAPI would have to guess the place of
    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[annotation, info] if info is not None else annotation)
    return Input(name, where, key, adapter, default)


def plain_handler(endpoint: Callable[..., Any], path_params: Collection[str], framework: Handler) -> Handler | None:
    """A handler reading the endpoint's inputs itself, or None unless every input is plain and it answers a Response.

    Valid input goes straight to the endpoint. Anything else (a missing, malformed or out-of-range value) is handed
    to `framework`, FastAPI's own handler for the route, so every error a client sees is FastAPI's.
    """
    if not inspect.iscoroutinefunction(endpoint):
        return None
    hints = typing.get_type_hints(endpoint, include_extras=True)
    answers = hints.get("return")
    if not (isinstance(answers, type) and issubclass(answers, Response)):
        return None  # the answer needs FastAPI's serialisation against the response model
    inputs: list[Input] = []
    request_name: str | None = None
    for parameter in inspect.signature(endpoint).parameters.values():
        hint = hints.get(parameter.name)
        if isinstance(hint, type) and issubclass(hint, Request):
            request_name = parameter.name
            continue
        read = _input(parameter, hint, path_params)
        if read is None:
            return None
        inputs.append(read)

    async def plain(request: Request) -> Response:
        sources = {"query": request.query_params, "header": request.headers, "path": request.path_params}
        values: dict[str, Any] = {}
        for read in inputs:
            raw = sources[read.where].get(read.key)
            if raw is None:
                if read.default is REQUIRED:
                    return await framework(request)
                values[read.name] = read.default
                continue
            try:
                values[read.name] = read.adapter.validate_python(raw)
            except ValidationError:
                return await framework(request)
        if request_name is not None:
            values[request_name] = request
        answer: Response = await endpoint(**values)
        return answer

    return plain
