"""The OpenAPI schema: it generates without warnings, validates, is served with the docs
without a key, and every operation in it is exercised by tests/test_api.py."""

import yaml
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator

from tests.test_api import COVERED_OPERATIONS

METHODS = {"get", "post", "put", "patch", "delete"}


def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(spec: dict) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in spec["paths"].items()
        for method in item
        if method in METHODS
    }


def test_the_schema_generates_without_warnings_and_validates(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    spec = yaml.safe_load(out.read_text())
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Carat API"


def test_every_operation_in_the_schema_is_covered_by_test_api():
    """Adding an endpoint fails here until test_api.py exercises it and lists it in
    COVERED_OPERATIONS (test_api.py checks the list against the requests it made)."""
    assert operations(schema()) == COVERED_OPERATIONS


def test_every_operation_needs_a_key_and_documents_the_error_shape():
    spec = schema()
    schemes = spec["components"]["securitySchemes"]
    # Bearer first (the docs' Authorize box takes the key as the console shows it), the
    # older "Api-Key <key>" still documented for the clients that use it.
    assert schemes["Bearer"] == {**schemes["Bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["ApiKey"]["in"] == "header"
    error = spec["components"]["schemas"]["Error"]
    assert error["properties"]["error"] == {"$ref": "#/components/schemas/ErrorDetail"}
    for path, method in operations(spec):
        op = spec["paths"][path][method]
        assert op["security"] == [{"Bearer": []}, {"ApiKey": []}], (path, method)
        # Every error any operation may answer, in the one error shape: a generated
        # client knows how to read each of them.
        statuses = ["400", "401", "403", "404", "429", "503"]
        if method != "get":
            statuses += ["409", "413"]
        for status in statuses:
            ref = op["responses"][status]["content"]["application/json"]["schema"]
            assert ref == {"$ref": "#/components/schemas/Error"}, (path, method, status)
        assert "WWW-Authenticate" in op["responses"]["401"]["headers"], (path, method)
        assert "Retry-After" in op["responses"]["503"]["headers"], (path, method)
        assert any(s.startswith("2") for s in op["responses"]), (path, method)


def test_amounts_are_documented_as_decimal_strings():
    props = schema()["components"]["schemas"]["PurchaseRequest"]["properties"]
    assert props["amount"]["type"] == "string"
    assert props["amount"]["format"] == "decimal"
    assert props["occurred_at"]["format"] == "date-time"


def test_schema_and_docs_are_served_without_a_key(client, db):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert operations(yaml.safe_load(response.content)) == COVERED_OPERATIONS
    assert client.get("/api/schema/?format=json").json()["openapi"].startswith("3.")
    for url in ("/api/docs/", "/api/redoc/"):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        # Served from the installed sidecar, so the docs work offline (no CDN).
        assert "drf_spectacular_sidecar" in html, url
        assert "cdn.jsdelivr" not in html and "unpkg.com" not in html, url


def test_rules_that_depend_on_data_are_documented_with_examples():
    """No schema can say which stores or currencies exist, or what is left on a sale:
    those refusals are documented per operation, with an example of each error."""
    spec = schema()

    def codes(path, status):
        response = spec["paths"][path]["post"]["responses"][status]
        examples = response["content"]["application/json"]["examples"].values()
        for example in examples:
            error = example["value"]["error"]
            assert set(error) <= {"code", "message", "fields"}, error
        return {e["value"]["error"]["code"] for e in examples}

    assert {"unknown_store", "unknown_currency", "missing_rate"} <= codes(
        "/api/v1/purchases/", "400"
    )
    assert "store_not_allowed" in codes("/api/v1/purchases/", "403")
    assert "receipt_conflict" in codes("/api/v1/purchases/", "409")
    assert {"unknown_store", "return_too_large"} <= codes("/api/v1/returns/", "400")
    assert "unknown_receipt" in codes("/api/v1/returns/", "404")
