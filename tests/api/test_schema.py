"""The OpenAPI description: complete, served with a local Swagger UI, and true of the
running API (schemathesis against the real ASGI server)."""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from accounts import services as account_services
from tests.factories import UserFactory, conversation

EXPECTED_OPERATIONS = {
    ("/api/chat", "post"),
    ("/api/chat/sessions", "get"),
    ("/api/chat/sessions/{session_id}", "get"),
    ("/api/chat/sessions/{session_id}", "post"),
    ("/api/chat/sessions/{session_id}", "patch"),
    ("/api/chat/sessions/{session_id}", "delete"),
    ("/api/chat/sessions/{session_id}/messages", "get"),
    ("/api/chat/sessions/{session_id}/regenerate", "post"),
    ("/api/auth/token", "post"),
    ("/api/auth/token", "delete"),
    ("/api/auth/tokens", "get"),
    ("/api/auth/tokens/{token_key}", "delete"),
}


@pytest.fixture
def openapi(anonymous) -> dict:
    response = anonymous.get("/api/schema/", headers={"Accept": "application/json"})
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db
def test_schema_describes_every_endpoint_with_auth_and_errors(openapi):
    operations = {
        (path, method)
        for path, item in openapi["paths"].items()
        for method in item
        if method in {"get", "post", "patch", "delete"}
    }
    assert operations == EXPECTED_OPERATIONS
    assert openapi["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal API token from POST /api/auth/token.",
    }
    chat = openapi["paths"]["/api/chat"]["post"]
    assert {"bearerAuth": []} in chat["security"]
    assert set(chat["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    assert "event: delta" in chat["responses"]["200"]["description"]
    for status in ("400", "401", "404", "413", "429", "503"):
        assert chat["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    sessions = openapi["paths"]["/api/chat/sessions"]["get"]
    assert sessions["responses"]["200"]["headers"]["Link"]
    assert {p["name"] for p in sessions["parameters"]} == {"q", "limit", "cursor"}
    token = openapi["paths"]["/api/auth/token"]["post"]
    # No global security requirement, so an operation without one needs no credentials.
    assert "security" not in openapi
    assert token.get("security") in (None, [], [{}])


@pytest.mark.django_db
def test_swagger_ui_uses_only_local_static_files(anonymous):
    response = anonymous.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui" in asset for asset in assets)
    # Everything from this server: vendored files, and the split view's start-up script.
    assert all(asset.startswith(("/static/", "/api/docs/")) for asset in assets), assets
    assert "cdn" not in html.lower()


def test_api_conforms_to_its_schema(live_app, upstream):
    """Generated requests for every operation: no 5xx, and every answer (status, headers,
    content type, body) is one the schema describes."""
    user = UserFactory()
    conversation(user, turns=1)
    headers = {"Authorization": f"Bearer {account_services.issue_token(user=user).token}"}
    schema = schemathesis.openapi.from_url(f"{live_app}/api/schema/?format=json")
    # Revoking the token in use would leave the rest of the run unauthenticated.
    schema = schema.exclude(path="/api/auth/token", method="DELETE")
    failures, checked = {}, []
    for result in schema.get_all_operations():
        operation = result.ok()
        checked.append(operation.label)

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            # A schema pattern cannot hold every rule of services.clean_message (the
            # generator does not honour it exactly), so a schema-valid body may still be
            # refused with 400; every other check applies.
            case.call_and_validate(
                headers=headers, excluded_checks=[schemathesis.checks.positive_data_acceptance]
            )

        try:
            check()
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            failures[operation.label] = exc
    assert len(checked) == len(EXPECTED_OPERATIONS) - 1
    assert not failures, "\n\n".join(f"{label}: {exc}" for label, exc in failures.items())
