"""Single sign-on rules without a browser: SSO only leaves passwords to the break-glass
superuser, providers are read and checked from the environment, groups follow the claim."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from accounts import configuration, services
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> Client:
    return Client(REMOTE_ADDR=f"10.8.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}")


def sign_in(client: Client, user):
    return client.post("/accounts/login/", {"login": user.username, "password": PASSWORD})


def test_sso_only_refuses_passwords_to_everyone_but_a_superuser(client, user, settings):
    settings.CHATBOT_SSO_ONLY = True
    response = sign_in(client, user)
    assert response.status_code == 200
    assert "Password sign-in is turned off" in response.content.decode()
    assert client.get("/settings/").status_code == 302
    superuser = UserFactory(is_staff=True, is_superuser=True)
    assert sign_in(client, superuser).status_code == 302
    assert client.get("/settings/").status_code == 200


def test_sso_only_closes_password_sign_up_and_password_tokens(client, user, settings):
    settings.CHATBOT_SSO_ONLY = True
    response = client.post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert "closed" in response.content.decode().lower()
    assert not type(user).objects.filter(email="new@example.com").exists()
    token = client.post(
        "/api/auth/token",
        {"username": user.username, "password": PASSWORD},
        content_type="application/json",
    )
    assert token.status_code == 403 and "Settings" in token.json()["detail"]


def test_without_sso_only_passwords_work(client, user):
    assert sign_in(client, user).status_code == 302


def test_providers_become_allauth_apps_with_https_issuers():
    apps = configuration.oidc_providers(
        '[{"id": "entra", "name": "Contoso", "issuer": "https://login.example.com/t/v2.0/",'
        ' "client_id": "id", "secret": "s"}]'
    )
    assert apps[0]["provider_id"] == "entra" and apps[0]["name"] == "Contoso"
    assert apps[0]["settings"]["server_url"] == "https://login.example.com/t/v2.0"
    assert configuration.form_action_origins(apps) == ["https://login.example.com"]


@pytest.mark.parametrize(
    "value",
    [
        "{}",
        '[{"id": "Bad Id", "name": "n", "issuer": "https://a", "client_id": "c", "secret": "s"}]',
        '[{"id": "a", "name": "n", "issuer": "https://a", "client_id": "c", "secret": "s"},'
        ' {"id": "a", "name": "m", "issuer": "https://b", "client_id": "c", "secret": "s"}]',
        '[{"id": "a", "name": "n", "issuer": "ftp://a", "client_id": "c", "secret": "s"}]',
        '[{"id": "a", "name": "n", "issuer": "https://a", "client_id": "c", "secret": "s",'
        ' "extra": 1}]',
    ],
)
def test_bad_providers_are_refused_naming_the_variable(value):
    with pytest.raises(ImproperlyConfigured, match="CHATBOT_OIDC_PROVIDERS"):
        configuration.oidc_providers(value)


def test_group_claim_sets_only_mapped_groups(user, settings):
    settings.CHATBOT_OIDC_GROUP_MAP = {"idp-mods": "Moderators", "idp-beta": "Beta"}
    local = Group.objects.create(name="Local")
    user.groups.add(local, Group.objects.create(name="Beta"))
    services.sync_groups_from_claim(user=user, claim=["idp-mods", "unknown"])
    assert set(user.groups.values_list("name", flat=True)) == {"Moderators", "Local"}
    services.sync_groups_from_claim(user=user, claim=None)  # no claim sent: unchanged
    assert set(user.groups.values_list("name", flat=True)) == {"Moderators", "Local"}
    services.sync_groups_from_claim(user=user, claim="idp-beta")
    assert set(user.groups.values_list("name", flat=True)) == {"Beta", "Local"}
