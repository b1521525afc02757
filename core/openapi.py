"""The OpenAPI schema's error answers, added to every operation by the rules the API keeps
(core.api, core.parsers, DRF's authentication), so each view declares only its own
(409, 422, 403 ...). A drf-spectacular postprocessing hook: SPECTACULAR_SETTINGS."""

import re

# The "Error" component is core.api.ErrorSerializer's, which the views name in their own
# error answers; a field error's has no serializer.
VALIDATION_ERROR = {
    "type": "object",
    "description": "A `detail` summing it up, and the messages of each field that failed.",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}


def error(description: str, component: str = "Error") -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}},
    }


# Operations that refuse repeated failed logins (accounts.services.login_authenticate): 429
# with Retry-After.
THROTTLED_PATHS = {"/api/auth/token/"}

RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}}


def add_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ValidationError", VALIDATION_ERROR)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})

            def add(code, response, responses=responses):
                responses.setdefault(str(code), response)

            query = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
            if "requestBody" in operation or query:
                add(400, error("Invalid input.", "ValidationError"))
            if any(operation.get("security", [{}])):  # credentials sent are checked, even
                add(401, error("No credentials, or bad ones."))  # where none are needed
            if re.search(r"{\w+}", path):
                add(404, error("Not found, or not the caller's."))
            if "page" in query:
                add(404, error("No such page."))
            if "requestBody" in operation:
                add(413, error("Request body too large."))
                add(415, error("Not JSON."))
            if path in THROTTLED_PATHS:
                add(429, {**error("Too many failed attempts; wait."), "headers": RETRY_AFTER})
            add(503, {**error("The database is unavailable; try again."), "headers": RETRY_AFTER})
    return result
