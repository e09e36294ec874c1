"""Every error, from the framework or from us, is an RFC 9457 problem document without internals."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

from scoreboard.kit.problems import ProblemError
from tests.fixtures.apps import Running


class Conflict(ProblemError):
    status = 409
    title = "Conflict"


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


def _add_probe_routes(app: FastAPI) -> None:
    # Out of the document: they are the test's, not the API's (and the client checks documented statuses).
    @app.post("/probe/things", include_in_schema=False)
    async def make(thing: Thing) -> Thing:
        return thing

    @app.get("/probe/conflict", include_in_schema=False)
    async def conflict() -> None:
        raise Conflict("already taken", headers={"X-Why": "dup"}, field="name")

    @app.get("/probe/crash", include_in_schema=False)
    async def crash() -> None:
        raise RuntimeError("secret internals: password=hunter2")


def _is_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert isinstance(body["title"], str)
    return body


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    """Framework 404s are problems with the request path as instance."""
    body = _is_problem(await client.get("/no/such/thing"), 404)
    assert body["instance"] == "/no/such/thing"


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    """405 keeps the Allow header."""
    response = await client.delete("/healthz")
    _is_problem(response, 405)
    assert response.headers["allow"] == "GET"


async def test_validation_errors_are_422_without_echoing_input(app: Running, client: httpx.AsyncClient) -> None:
    """Unknown fields and bad JSON are 422 problems listing where and why, never the input itself."""
    _add_probe_routes(app.app)
    body = _is_problem(await client.post("/probe/things", json={"name": "x", "password": "hunter2"}), 422)
    assert body["errors"] == [
        {"loc": ["body", "password"], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}
    ]
    assert "hunter2" not in str(body)
    malformed = await client.post("/probe/things", content=b"{not json", headers={"content-type": "application/json"})
    assert _is_problem(malformed, 422)["errors"][0]["type"] == "json_invalid"  # type: ignore[index]


async def test_domain_errors_carry_status_headers_and_extensions(app: Running, client: httpx.AsyncClient) -> None:
    """A ProblemError renders its own status, title, detail, headers and extension members."""
    _add_probe_routes(app.app)
    response = await client.get("/probe/conflict")
    body = _is_problem(response, 409)
    assert body == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": "already taken",
        "instance": "/probe/conflict",
        "field": "name",
    }
    assert response.headers["x-why"] == "dup"


async def test_unexpected_errors_are_500_without_internals(app: Running, client: httpx.AsyncClient) -> None:
    """A bug gives a bare 500 problem; the message and trace stay in the log."""
    _add_probe_routes(app.app)
    response = await client.get("/probe/crash")
    body = _is_problem(response, 500)
    assert body == {"type": "about:blank", "title": "Internal Server Error", "status": 500, "instance": "/probe/crash"}
    assert "hunter2" not in response.text


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    """The OpenAPI document and its UI are at /openapi.json and /docs."""
    spec = (await client.get("/openapi.json")).json()
    assert {"/healthz", "/readyz"} <= set(spec["paths"])
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_openapi_describes_every_error_as_the_app_renders_it(client: httpx.AsyncClient) -> None:
    """Every documented 4xx/5xx is problem+json with the Problem schema; secured operations list 401, bodies 413."""
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    assert set(schemas["Problem"]["required"]) == {"type", "title", "status"}
    assert "HTTPValidationError" not in schemas
    operations = [op for item in spec["paths"].values() for op in item.values()]
    for operation in operations:
        for code, response in operation["responses"].items():
            if code[0] in "45":
                assert response["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, (operation["operationId"], code)
        if operation.get("security"):
            assert "401" in operation["responses"], operation["operationId"]
        if "requestBody" in operation:
            assert {"413", "422"} <= set(operation["responses"]), operation["operationId"]
    award = spec["paths"]["/api/scores"]["post"]["responses"]
    assert {"401", "403", "413", "422", "429"} <= set(award)


async def test_a_validation_problem_has_the_documented_shape(client: httpx.AsyncClient) -> None:
    """A real 422 carries the Problem schema's required fields and `errors` items with loc, msg and type."""
    spec = (await client.get("/openapi.json")).json()
    problem = spec["components"]["schemas"]["Problem"]
    body = (await client.post("/api/auth/register", json={"username": "x"})).json()
    assert set(problem["required"]) <= set(body)
    assert set(body) <= set(problem["properties"])
    item = problem["properties"]["errors"]["items"]
    assert all(set(item["required"]) == set(error) for error in body["errors"])
