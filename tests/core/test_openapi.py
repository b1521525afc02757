"""The OpenAPI schema: generated without warnings, committed as openapi.yaml and in step
with the code, served at /api/schema/ with a browsable page at /api/docs/."""

import subprocess
import sys

import pytest
import yaml

from tests.support import PROJECT_DIR
from tests.support.processes import subprocess_env

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def generated():
    """`make schema`'s command, into a string: fails on any warning or invalid schema."""
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn"],
        cwd=PROJECT_DIR,
        # As `make schema` runs it: PostgreSQL's integer ranges, no database connected.
        env=subprocess_env(DJANGO_DEBUG="1", DATABASE_URL="postgres://schema@127.0.0.1:1/none"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "Error" not in result.stderr, result.stderr
    return result.stdout


def test_the_committed_schema_is_the_codes_own(generated):
    committed = (PROJECT_DIR / "openapi.yaml").read_text()
    assert yaml.safe_load(generated) == yaml.safe_load(committed), (
        "openapi.yaml is out of date: run `make schema` and commit it"
    )


def test_every_endpoint_documents_its_answers_and_errors(generated):
    schema = yaml.safe_load(generated)
    operations = {
        (method.upper(), path): operation
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }
    checkout = operations[("POST", "/api/orders/")]
    # 404: the cart in the body is unknown or someone else's (schemathesis found it missing)
    assert {"201", "400", "401", "404", "409", "422"} <= set(checkout["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in checkout["parameters"])
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    assert schema["components"]["securitySchemes"]["tokenAuth"]["in"] == "header"
    for (method, path), operation in operations.items():
        codes = set(operation["responses"])
        assert codes & {"200", "201", "202", "204"}, (method, path)
        public = path.startswith(("/api/products/", "/api/auth/", "/api/push/subscriptions/renew/"))
        if not public:
            assert "401" in codes, (method, path)
        if "{" in path:
            assert "404" in codes, (method, path)
        for code, response in operation["responses"].items():
            if code.startswith(("4", "5")):
                assert "application/json" in response.get("content", {}), (method, path, code)


def test_the_schema_and_its_page_are_served_to_anyone(anon_client):
    schema = anon_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    assert "/api/orders/" in schema.json()["paths"]

    page = anon_client.get("/api/docs/")
    assert page.status_code == 200
    assert b"swagger-ui" in page.content
    assert b"/api/schema/" in page.content
    assert b"cdn" not in page.content.lower()  # served from here: works offline


def test_fields_that_may_be_null_say_so(generated):
    """schemathesis found `duplicate_of: null` answered where the schema said integer."""
    schemas = yaml.safe_load(generated)["components"]["schemas"]
    assert schemas["Order"]["properties"]["duplicate_of"]["nullable"] is True
    assert schemas["Notification"]["properties"]["read_at"]["nullable"] is True
