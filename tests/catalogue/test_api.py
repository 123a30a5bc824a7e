"""GET /api/models: the models the caller may use; other groups' models are invisible."""

from __future__ import annotations

from django.contrib.auth.models import Group

from tests.api.conftest import bearer_client
from tests.factories import UserFactory


def test_models_lists_what_the_caller_may_use_the_default_first(providers, user):
    response = bearer_client(user).get("/api/models")
    assert response.status_code == 200
    assert response.json() == [
        {"id": "fast", "label": "Fast", "default": True, "vision": False, "contextTokens": 8000},
        {"id": "down", "label": "Down", "default": False, "vision": False, "contextTokens": 16000},
        {
            "id": "strong",
            "label": "Strong",
            "default": False,
            "vision": True,
            "contextTokens": 32000,
        },
    ]


def test_a_groups_model_is_listed_for_its_members_only(providers, user, settings):
    member = UserFactory()
    member.groups.add(Group.objects.get(name="Research"))
    listed = [m["id"] for m in bearer_client(member).get("/api/models").json()]
    assert "research" in listed
    assert "research" not in [m["id"] for m in bearer_client(user).get("/api/models").json()]


def test_without_a_catalogue_the_settings_model_is_the_one(db, user, settings):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.CHATBOT_MODEL = "my-model"
    settings.CHATBOT_CONTEXT_TOKENS = 16000
    assert bearer_client(user).get("/api/models").json() == [
        {
            "id": "my-model",
            "label": "my-model",
            "default": True,
            "vision": False,
            "contextTokens": 16000,
        }
    ]


def test_models_needs_credentials(db, client):
    assert client.get("/api/models").status_code == 401
