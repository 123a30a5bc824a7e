"""The catalogue in Django admin: "Test connection" says what failed; exactly one default;
read-only when a file declares the catalogue."""

from __future__ import annotations

import pytest
from django.test import Client

from catalogue.models import Model
from tests.factories import UserFactory

CHANGELIST = "/admin/catalogue/provider/"


@pytest.fixture
def admin(db) -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def run_test_connection(admin, providers, name: str) -> str:
    response = admin.post(
        CHANGELIST,
        {"action": "test_connection", "_selected_action": [providers[name].pk]},
        follow=True,
    )
    assert response.status_code == 200
    return " ".join(str(m) for m in response.context["messages"])


def test_test_connection_lists_the_providers_models(admin, providers, upstream):
    said = run_test_connection(admin, providers, "alpha")
    assert said == "alpha: connected; 1 models: test-model."
    # Through the provider's key, from the environment.
    assert upstream.requests[-1]["headers"]["authorization"] == "Bearer sk-alpha-secret"


def test_test_connection_says_the_key_was_refused(admin, providers, upstream):
    upstream.models_status = 401
    said = run_test_connection(admin, providers, "alpha")
    assert said == (
        f"alpha: {upstream.base_url} refused the key (status 401): check the variable "
        "ALPHA_API_KEY."
    )


def test_test_connection_says_it_cannot_connect(admin, providers):
    said = run_test_connection(admin, providers, "nowhere")
    assert said.startswith(f"nowhere: cannot connect to {providers['nowhere'].base_url}") or (
        "did not answer within" in said
    )


def test_test_connection_says_the_key_variable_is_not_set(admin, providers, monkeypatch):
    monkeypatch.delenv("BETA_API_KEY")
    said = run_test_connection(admin, providers, "beta")
    assert said == "beta: the environment variable BETA_API_KEY is not set."


def test_a_second_default_is_refused(admin, providers):
    response = admin.post(
        "/admin/catalogue/model/add/",
        {"id": "other", "provider": providers["alpha"].pk, "is_default": "on", "enabled": "on"},
    )
    assert response.status_code == 200
    assert "fast is already the default: untick it there first." in response.content.decode()
    assert not Model.objects.filter(pk="other").exists()


def test_the_default_cannot_be_unticked_without_another(admin, providers):
    response = admin.post(
        "/admin/catalogue/model/fast/change/",
        {"provider": providers["alpha"].pk, "context_tokens": 8000, "enabled": "on"},
    )
    assert "One model must be the default." in response.content.decode()
    assert Model.objects.get(pk="fast").is_default


def test_a_key_is_never_in_the_database_or_the_page(admin, providers):
    page = admin.get(f"/admin/catalogue/provider/{providers['alpha'].pk}/change/").content
    assert b"ALPHA_API_KEY" in page and b"sk-alpha-secret" not in page


def test_with_a_file_admin_shows_it_read_only(admin, settings, tmp_path, providers):
    from catalogue.file import load_models_file

    path = tmp_path / "models.toml"
    path.write_text(
        '[[providers]]\nname = "p"\nbase_url = "http://127.0.0.1:1/v1"\n'
        '[[models]]\nid = "m1"\nlabel = "Model one"\nprovider = "p"\ndefault = true\n'
    )
    settings.CHATBOT_MODELS_FILE = str(path)
    settings.CHATBOT_MODELS = load_models_file(
        str(path), default_context_tokens=16000, max_reply_tokens=1000
    )
    page = admin.get("/admin/catalogue/model/").content.decode()
    assert str(path) in page and "Model one" in page
    assert admin.get("/admin/catalogue/model/add/").status_code == 403
    response = admin.post("/admin/catalogue/model/fast/change/", {"label": "x"})
    assert response.status_code == 403


@pytest.fixture
def file_catalogue(db, settings, tmp_path, monkeypatch, upstream):
    """A catalogue declared in a file: provider ``local`` on the loopback upstream with its
    key in LOCAL_API_KEY, and ``gone`` whose port listens to nothing."""
    from catalogue.file import load_models_file
    from loopback.upstream import free_port

    monkeypatch.setenv("LOCAL_API_KEY", "sk-local-secret")
    path = tmp_path / "models.toml"
    path.write_text(
        f'[[providers]]\nname = "local"\nbase_url = "{upstream.base_url}"\n'
        'api_key_env = "LOCAL_API_KEY"\n'
        f'[[providers]]\nname = "gone"\nbase_url = "http://127.0.0.1:{free_port()}/v1"\n'
        '[[models]]\nid = "m1"\nprovider = "local"\ndefault = true\n'
        '[[models]]\nid = "m2"\nprovider = "gone"\n'
    )
    settings.CHATBOT_LLM_MAX_RETRIES = 0
    settings.CHATBOT_MODELS_FILE = str(path)
    settings.CHATBOT_MODELS = load_models_file(
        str(path), default_context_tokens=16000, max_reply_tokens=1000
    )
    return path


def run_file_test_connection(admin, name: str) -> tuple[int, str]:
    response = admin.post("/admin/catalogue/provider/test-connection/", {"provider": name})
    said = " ".join(str(m) for m in admin.get(CHANGELIST).context["messages"])
    return response.status_code, said


def test_test_connection_works_for_the_files_providers(admin, file_catalogue, upstream):
    page = admin.get(CHANGELIST).content.decode()
    assert page.count(">Test connection</button>") == 2
    assert 'name="provider" value="local"' in page and 'name="provider" value="gone"' in page

    status, said = run_file_test_connection(admin, "local")

    assert status == 302
    assert said == "local: connected; 1 models: test-model."
    # With the key read from the variable the file names.
    assert upstream.requests[-1]["path"].endswith("/models")
    assert upstream.requests[-1]["headers"]["authorization"] == "Bearer sk-local-secret"


def test_test_connection_of_a_files_provider_says_what_failed(admin, file_catalogue, upstream):
    upstream.models_status = 401
    assert run_file_test_connection(admin, "local")[1] == (
        f"local: {upstream.base_url} refused the key (status 401): check the variable "
        "LOCAL_API_KEY."
    )
    status, said = run_file_test_connection(admin, "gone")
    assert status == 302 and said.startswith("gone: cannot connect to http://127.0.0.1:")


def test_test_connection_of_a_provider_not_in_the_file_is_not_found(admin, file_catalogue):
    assert run_file_test_connection(admin, "elsewhere")[0] == 404
    assert admin.get("/admin/catalogue/provider/test-connection/").status_code == 405


def test_test_connection_of_the_file_is_for_staff_only(file_catalogue, upstream):
    client = Client()
    client.force_login(UserFactory())
    response = client.post("/admin/catalogue/provider/test-connection/", {"provider": "local"})
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert upstream.requests == []
