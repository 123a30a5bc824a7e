"""The API's bearer scheme as the OpenAPI schema describes it (mutation testing found its
fields unasserted)."""

from __future__ import annotations

from accounts.api_auth import BearerTokenAuthentication, BearerTokenScheme


def test_the_bearer_scheme_is_http_bearer_with_where_to_get_a_token():
    assert BearerTokenScheme.target_class is BearerTokenAuthentication
    assert BearerTokenScheme.name == "bearerAuth"
    assert BearerTokenScheme(BearerTokenAuthentication).get_security_definition(None) == {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal API token from POST /api/auth/token.",
    }
