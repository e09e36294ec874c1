"""Serve a route taking plain values, a JSON body and plain dependencies without FastAPI solving them per request."""

from __future__ import annotations

import inspect
import json
import types
import typing
import uuid
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Request, Response, params
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticUndefined
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
# The values a plain input may hold: what a query string, a header or a path segment says without a schema.
PLAIN = (int, str, float, bool, uuid.UUID)
REQUIRED = inspect.Parameter.empty


class Refused(Exception):
    """An input FastAPI would answer with a 422: its own handler takes the request."""


@dataclass(frozen=True, slots=True)
class Input:
    """One argument read from the request: where, under which key, validated by which adapter."""

    name: str
    where: str  # "query", "header" or "path"
    key: str
    adapter: TypeAdapter[Any]
    default: Any  # REQUIRED when the request must carry it


@dataclass(slots=True)
class Solvable:
    """A function and how to get each of its arguments: plain inputs, the request, a body, other functions."""

    call: Callable[..., Any]
    inputs: list[Input] = field(default_factory=list)
    request_name: str | None = None
    body: tuple[str, TypeAdapter[Any]] | None = None
    needs: list[tuple[str, Solvable | SecurityBase]] = field(default_factory=list)

    def every(self) -> list[Solvable]:
        """This function and every function it needs."""
        return [self, *(n for _, need in self.needs if isinstance(need, Solvable) for n in need.every())]


def _plain(annotation: Any) -> bool:
    """Whether an annotation is one plain type, or one plain type or None."""
    if isinstance(annotation, type):
        return issubclass(annotation, PLAIN)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = [a for a in typing.get_args(annotation) if a is not type(None)]
        return len(kinds) == 1 and _plain(kinds[0])
    return False


def _input(parameter: inspect.Parameter, annotation: Any, info: Any, path_params: Collection[str]) -> Input | None:
    """How to read one plain argument, or None when it is not a plain query, header or path value."""
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
        return None  # a cookie, a form field, or a value FastAPI would have to guess the place of
    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[annotation, info] if info is not None else annotation)
    return Input(name, where, key, adapter, default)


def _need(info: params.Depends, path_params: Collection[str]) -> Solvable | SecurityBase | None:
    """What a `Depends`/`Security` argument calls: a security scheme, or a plain async function."""
    if not info.use_cache or (isinstance(info, params.Security) and info.scopes):
        return None
    if isinstance(info.dependency, SecurityBase):
        return info.dependency
    if info.dependency is None or not inspect.iscoroutinefunction(info.dependency):
        return None  # a class, a generator (it needs FastAPI's exit stack) or a function run in a thread
    return _solvable(info.dependency, path_params, body_allowed=False)


def _solvable(call: Callable[..., Any], path_params: Collection[str], *, body_allowed: bool) -> Solvable | None:
    """How to call `call` from a request, or None when one of its arguments needs FastAPI."""
    solvable = Solvable(call)
    hints = typing.get_type_hints(call, include_extras=True)
    for parameter in inspect.signature(call).parameters.values():
        hint = hints.get(parameter.name)
        if hint in (Request, HTTPConnection):
            solvable.request_name = parameter.name
            continue
        annotation, metadata = hint, []
        if typing.get_origin(hint) is Annotated:
            annotation, *metadata = typing.get_args(hint)
        depends = [m for m in metadata if isinstance(m, params.Depends)]
        found = [m for m in metadata if isinstance(m, params.Param)]
        if depends:
            need = _need(depends[-1], path_params)
            if need is None:
                return None
            solvable.needs.append((parameter.name, need))
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel) and not metadata:
            if not body_allowed or solvable.body is not None or parameter.default is not REQUIRED:
                return None
            solvable.body = (parameter.name, TypeAdapter(annotation))
        else:
            read = _input(parameter, annotation, found[-1] if found else None, path_params)
            if read is None:
                return None
            solvable.inputs.append(read)
    return solvable


def _json(content_type: str | None) -> bool:
    """Whether a Content-Type names JSON (`application/json` or `application/...+json`), as FastAPI reads it."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def _read(solvable: Solvable, request: Request) -> dict[str, Any]:
    """The function's plain arguments from the request."""
    values: dict[str, Any] = {}
    for read in solvable.inputs:
        source = request.query_params if read.where == "query" else request.headers
        raw = (request.path_params if read.where == "path" else source).get(read.key)
        if raw is None:
            if read.default is REQUIRED:
                raise Refused
            values[read.name] = read.default
            continue
        try:
            values[read.name] = read.adapter.validate_python(raw)
        except ValidationError as exc:
            raise Refused from exc
    if solvable.request_name is not None:
        values[solvable.request_name] = request
    return values


async def _body(solvable: Solvable, request: Request) -> dict[str, Any]:
    """The function's body argument, parsed and validated, when it takes one."""
    if solvable.body is None:
        return {}
    name, adapter = solvable.body
    try:
        raw = await request.body()
    except HTTPException:
        raise  # the body limit's 413, which FastAPI lets through too
    except Exception as exc:  # a client gone mid-body: FastAPI's handler gives its answer (a 400)
        raise Refused from exc
    if not _json(request.headers.get("content-type")) or not raw:
        raise Refused
    try:
        # The standard library's parser, as `kit.routing.JsonRequest` (FastAPI's handler) reads a body.
        return {name: adapter.validate_python(json.loads(raw))}
    except (ValueError, RecursionError) as exc:  # not JSON (JSONDecodeError, UnicodeDecodeError), or not the model
        raise Refused from exc


async def _solve(solvable: Solvable, request: Request, read: dict[int, dict[str, Any]], done: dict[Any, Any]) -> Any:
    """Call the function with its arguments, calling what it needs first (each function once per request)."""
    values = read[id(solvable)]
    for name, need in solvable.needs:
        key = need if isinstance(need, SecurityBase) else need.call  # FastAPI calls a dependency once per request
        if key in done:
            pass
        elif isinstance(need, SecurityBase):  # every scheme (`HTTPBearer`, `APIKeyHeader`, ...) is called so
            done[key] = await need(request)  # type: ignore[operator]
        else:
            done[key] = await _solve(need, request, read, done)
        values[name] = done[key]
    return await solvable.call(**values)


def plain_handler(endpoint: Callable[..., Any], path_params: Collection[str], framework: Handler) -> Handler | None:
    """A handler serving the endpoint itself, or None unless everything it takes is plain and it answers a Response.

    Every input of the endpoint and of what it depends on is read and validated before anything is called; any
    input FastAPI would refuse (missing, malformed, out of range, a body that is not JSON or not the model) hands the
    request to `framework`, FastAPI's own handler for the route, so every 422 a client sees is FastAPI's. So does
    any request while the app has `dependency_overrides`.
    """
    if not inspect.iscoroutinefunction(endpoint):
        return None
    answers = typing.get_type_hints(endpoint).get("return")
    if not (isinstance(answers, type) and issubclass(answers, Response)):
        return None  # the answer needs FastAPI's serialisation against the response model
    root = _solvable(endpoint, path_params, body_allowed=True)
    if root is None:
        return None
    every = root.every()

    async def plain(request: Request) -> Response:
        if getattr(request.scope.get("app"), "dependency_overrides", None):
            return await framework(request)  # FastAPI's documented overrides (tests, mostly) are FastAPI's to solve
        try:
            read = {id(s): _read(s, request) for s in every}
            read[id(root)].update(await _body(root, request))
        except Refused:
            return await framework(request)
        answer: Response = await _solve(root, request, read, {})
        return answer

    return plain
