"""The OpenAPI description, finished once from what the routes declare.

FastAPI derives paths, bodies and models from the routes; this adds what it cannot know:
the bearer-key security scheme, readable operation ids, the problem schema under
``application/problem+json`` only, the response headers the service sets, and an example
for every response (the schema's own examples where it has them, else one built from it).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from api.errors import PROBLEM_JSON

SCHEME = "apiKey"
_OPEN = ("/healthz", "/readyz", "/metrics", "/support")

HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-Id": {
        "description": "The request's id (the one sent, the trace id of a traceparent, or a new one); "
        "every event the request causes carries it as its correlation id.",
        "schema": {"type": "string"},
    },
    "ETag": {
        "description": 'The resource\'s new version, quoted ("3"); send it back as If-Match.',
        "schema": {"type": "string"},
    },
    "Location": {"description": "Where the resource created can be read.", "schema": {"type": "string"}},
    "Idempotent-Replayed": {
        "description": "true when the Idempotency-Key was used before: this is the first answer; nothing was written.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {"description": "Seconds to wait before sending the request again.", "schema": {"type": "integer"}},
    "WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}},
    "Allow": {"description": "The methods this path answers.", "schema": {"type": "string"}},
}


STRING_EXAMPLES = {
    "date-time": "2026-12-01T09:30:00Z",
    "date": "2026-12-01",
    "uuid": "3f0c7c2e-1b6a-4c1e-9a51-0b8d4b6f2a10",
}


def operation_id(route: APIRoute) -> str:
    """``place_order`` -> ``placeOrder``; a GET reads as ``getOrderTimeline`` unless it says list or get."""
    words = route.name.split("_")
    if "GET" in (route.methods or ()) and words[0] not in ("get", "list"):
        words = ["get", *words]
    return words[0] + "".join(w.capitalize() for w in words[1:])


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            _finish(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _finish(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key from `oms keys create` (the first admin key is printed when `oms serve` starts).",
    }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if path.startswith("/v1"):
                operation["security"] = [{SCHEME: []}]
            for status, response in operation.get("responses", {}).items():
                _finish_response(components, path, method, int(status), response)


def _finish_response(components: dict[str, Any], path: str, method: str, status: int, response: dict[str, Any]) -> None:
    content = response.setdefault("content", {})
    headers = response.setdefault("headers", {})
    headers["X-Request-Id"] = HEADERS["X-Request-Id"]
    if status >= 400:
        # Every error is problem+json; FastAPI also lists the model under application/json.
        problem = content.pop("application/json", None) or {}
        content[PROBLEM_JSON] = {**problem, **{k: v for k, v in content.get(PROBLEM_JSON, {}).items() if v}}
        content[PROBLEM_JSON].setdefault("schema", {"$ref": "#/components/schemas/Problem"})
        content[PROBLEM_JSON].setdefault("example", _problem_example(status))
        extra = {401: "WWW-Authenticate", 405: "Allow", 503: "Retry-After"}.get(status)
        if extra:
            headers[extra] = HEADERS[extra]
    elif method in ("post", "put") and path.startswith("/v1") and path != "/v1/import":
        headers["ETag"] = HEADERS["ETag"]
        headers["Idempotent-Replayed"] = HEADERS["Idempotent-Replayed"]
        if status == 201:
            headers["Location"] = HEADERS["Location"]
    for media in content.values():
        if "example" not in media and "examples" not in media and "schema" in media:
            media["example"] = example_of(media["schema"], components.get("schemas", {}))
    if not content:
        response.pop("content")


def _problem_example(status: int) -> dict[str, Any]:
    code = {
        401: "unauthenticated",
        403: "forbidden",
        404: "order_not_found",
        405: "method_not_allowed",
        409: "insufficient_stock",
        412: "precondition_failed",
        413: "payload_too_large",
        415: "unsupported_media_type",
        422: "validation_error",
        503: "database_unavailable",
    }.get(status, "internal_error")
    return {
        "type": f"urn:oms:problem:{code}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "detail": "what went wrong, in words",
        "code": code,
    }


def example_of(schema: dict[str, Any], schemas: dict[str, Any], depth: int = 0) -> Any:
    """An example value for a JSON schema: its own example where it has one, else a plausible one."""
    if "$ref" in schema:
        return example_of(schemas.get(schema["$ref"].rsplit("/", 1)[-1], {}), schemas, depth + 1)
    for key in ("example", "default"):
        if schema.get(key) is not None:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if depth > 6:
        return None
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return example_of(options[0], schemas, depth + 1)
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {name: example_of(sub, schemas, depth + 1) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [example_of(schema.get("items", {}), schemas, depth + 1)]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "string":
        return {
            "date-time": "2026-12-01T09:30:00Z",
            "date": "2026-12-01",
            "uuid": "3f0c7c2e-1b6a-4c1e-9a51-0b8d4b6f2a10",
        }.get(schema.get("format", ""), "text")
    return None
