"""Two loopback upstreams as two providers of the catalogue, each with its own key."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from catalogue.models import Model, Provider
from loopback.upstream import FakeUpstream, free_port

ALPHA_KEY = "sk-alpha-secret"
BETA_KEY = "sk-beta-secret"


@pytest.fixture(scope="session")
def second_upstream_server():
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def second_upstream(second_upstream_server):
    second_upstream_server.reset()
    yield second_upstream_server
    second_upstream_server.reset()


@pytest.fixture
def providers(db, upstream, second_upstream, monkeypatch, settings):
    """Provider ``alpha`` on the first upstream, ``beta`` on the second, and a third whose
    port listens to nothing; keys in the environment only. Models: ``fast`` (alpha, the
    default, upstream name ``alpha-fast-v1``), ``strong`` (beta), ``research`` (beta, for
    the Research group), ``down`` (unreachable, falls back to ``strong``)."""
    monkeypatch.setenv("ALPHA_API_KEY", ALPHA_KEY)
    monkeypatch.setenv("BETA_API_KEY", BETA_KEY)
    settings.CHATBOT_LLM_MAX_RETRIES = 0
    alpha = Provider.objects.create(
        name="alpha", base_url=upstream.base_url, api_key_env="ALPHA_API_KEY"
    )
    beta = Provider.objects.create(
        name="beta", base_url=second_upstream.base_url, api_key_env="BETA_API_KEY"
    )
    nowhere = Provider.objects.create(name="nowhere", base_url=f"http://127.0.0.1:{free_port()}/v1")
    Model.objects.create(
        id="fast",
        label="Fast",
        provider=alpha,
        upstream_name="alpha-fast-v1",
        is_default=True,
        context_tokens=8000,
    )
    strong = Model.objects.create(
        id="strong", label="Strong", provider=beta, vision=True, context_tokens=32000
    )
    research = Model.objects.create(id="research", label="Research only", provider=beta)
    research.groups.add(Group.objects.create(name="Research"))
    Model.objects.create(id="down", label="Down", provider=nowhere, fallback=strong)
    Model.objects.create(id="off", label="Disabled", provider=alpha, enabled=False)
    return {"alpha": alpha, "beta": beta, "nowhere": nowhere}
