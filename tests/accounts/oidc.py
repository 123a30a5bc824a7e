"""A loopback OpenID Connect provider (oidc-provider-mock) and the settings that point the
app at it, as CHATBOT_OIDC_PROVIDERS would."""

from __future__ import annotations

import json
from contextlib import contextmanager

from oidc_provider_mock import User, run_server_in_thread

from accounts import configuration


@contextmanager
def identity_provider(*people: User):
    """The provider on a free port; ``people`` sign in with one click on its consent page."""
    with run_server_in_thread(port=0, user_claims=people) as server:
        yield f"http://localhost:{server.server_port}"


def use_provider(settings, issuer: str, *, provider_id: str = "corp", name: str = "Corp") -> None:
    apps = configuration.oidc_providers(
        json.dumps(
            [
                {
                    "id": provider_id,
                    "name": name,
                    "issuer": issuer,
                    "client_id": "chatbot",
                    "secret": "chatbot-secret",
                }
            ]
        )
    )
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {"APPS": apps, "OAUTH_PKCE_ENABLED": True}
    }
    policy = json.loads(json.dumps(settings.CONTENT_SECURITY_POLICY))
    policy["DIRECTIVES"]["form-action"] = ["'self'", *configuration.form_action_origins(apps)]
    settings.CONTENT_SECURITY_POLICY = policy
