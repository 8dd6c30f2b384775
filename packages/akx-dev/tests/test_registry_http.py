"""Raw HTTP answers of the Schema Registry: error bodies, unknown paths, bad JSON.

Like the client contract tests, these run against a real Confluent registry when
``AKX_SCHEMA_REGISTRY_URL`` is set; the akx-dev-only behaviours are skipped then.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from akx_dev import KafkaStack

RECORD = json.dumps({"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]})


@pytest.fixture(scope="module")
def registry_url(request: pytest.FixtureRequest) -> str:
    url = os.environ.get("AKX_SCHEMA_REGISTRY_URL")
    if url:
        return url
    stack: KafkaStack = request.getfixturevalue("kafka_stack")
    return stack.schema_registry_url


@pytest.fixture
def subject() -> str:
    return f"akx-registry-http-{uuid.uuid4().hex[:12]}"


def call(method: str, url: str, body: bytes | str | None = None) -> tuple[int, Any, dict[str, str]]:
    """Send one request; return status, decoded JSON body and headers, errors included."""
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/vnd.schemaregistry.v1+json")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read()), dict(error.headers)


def is_dev_registry(url: str) -> bool:
    return "akx-dev" in call("GET", f"{url}/")[2].get("Server", "")


def test_root_answers_an_empty_object(registry_url: str) -> None:
    status, body, headers = call("GET", f"{registry_url}/")
    assert (status, body) == (200, {})
    assert headers["Content-Type"].startswith("application/vnd.schemaregistry.v1+json")


def test_unknown_path_and_wrong_method_get_confluent_error_bodies(registry_url: str) -> None:
    status, body, _ = call("GET", f"{registry_url}/no/such/path")
    assert status == 404
    assert body["error_code"] == 404
    assert body["message"]
    status, body, _ = call("PUT", f"{registry_url}/subjects", "{}")
    assert status == 405
    assert body["error_code"] == 405


def test_error_bodies_carry_the_registry_error_code(registry_url: str, subject: str) -> None:
    status, body, _ = call("GET", f"{registry_url}/subjects/{subject}/versions")
    assert (status, body["error_code"]) == (404, 40401)
    assert subject in body["message"]
    status, body, _ = call("GET", f"{registry_url}/subjects/{subject}/versions/abc")
    assert (status, body["error_code"]) == (422, 42202)


def test_malformed_json_is_a_client_error_with_a_message(registry_url: str, subject: str) -> None:
    status, body, _ = call("POST", f"{registry_url}/subjects/{subject}/versions", "{not json")
    assert status in (400, 422)
    assert body["error_code"] in (400, 422, 42201)
    assert body["message"]


def test_a_body_without_a_schema_is_an_invalid_schema(registry_url: str, subject: str) -> None:
    status, body, _ = call("POST", f"{registry_url}/subjects/{subject}/versions", "{}")
    assert status == 422
    assert body["error_code"] in (422, 42201)


def test_register_answers_the_id_and_verbose_compatibility_explains(
    registry_url: str, subject: str
) -> None:
    status, body, _ = call(
        "POST", f"{registry_url}/subjects/{subject}/versions", json.dumps({"schema": RECORD})
    )
    assert status == 200
    assert isinstance(body["id"], int)
    incompatible = json.dumps(
        {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}
    )
    url = f"{registry_url}/compatibility/subjects/{subject}/versions/latest?verbose=true"
    status, body, _ = call("POST", url, json.dumps({"schema": incompatible}))
    assert status == 200
    assert body["is_compatible"] is False
    assert body["messages"]
    assert all(isinstance(message, str) for message in body["messages"])
    status, body, _ = call("GET", f"{registry_url}/config/{subject}?defaultToGlobal=true")
    assert status == 200
    assert body["compatibilityLevel"]


def test_dev_registry_refuses_other_schema_types_clearly(registry_url: str, subject: str) -> None:
    if not is_dev_registry(registry_url):
        pytest.skip("akx-dev registry behaviour: Confluent's registry accepts JSON and PROTOBUF")
    request = {"schema": '{"type": "object"}', "schemaType": "JSON"}
    status, body, _ = call(
        "POST", f"{registry_url}/subjects/{subject}/versions", json.dumps(request)
    )
    assert (status, body["error_code"]) == (422, 42201)
    assert "only supports AVRO" in body["message"]
    status, body, _ = call("GET", f"{registry_url}/schemas/types")
    assert body == ["AVRO"]
