"""A model's prices per million tokens (input, cached input, output): set in admin or in
CHATBOT_MODELS_FILE, checked, and used to price the usage dashboard by the model that
answered."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from catalogue import selectors
from catalogue.entries import Price
from catalogue.models import Model
from conversations.models import Message
from tests.api.conftest import bearer_client
from tests.catalogue.test_file import GOOD, load
from tests.factories import UserFactory
from tests.usage.test_admin import URL, staff_client

PRICES = "price_input = 0.15\nprice_cached_input = 0.075\nprice_output = 0.6\n"


@pytest.fixture
def admin(db) -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_files_prices_are_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_API_KEY", "sk-local")
    llama, mini = load(tmp_path, GOOD + PRICES)

    assert mini.price == Price(
        input=Decimal("0.15"), cached_input=Decimal("0.075"), output=Decimal("0.6")
    )
    assert llama.price == Price()  # none declared: unknown


@pytest.mark.parametrize(
    "value", ["-1", '"0.15"', "true", "0.0000001", "1000000", "nan", "inf", "[1]"]
)
def test_a_bad_price_is_refused_naming_the_file_line_and_key(tmp_path, monkeypatch, value):
    monkeypatch.setenv("LOCAL_API_KEY", "sk-local")
    text = GOOD + f"price_input = 1\nprice_output = {value}\n"
    line = len(text.splitlines())

    with pytest.raises(ImproperlyConfigured) as refused:
        load(tmp_path, text)

    assert str(refused.value) == (
        f"CHATBOT_MODELS_FILE {tmp_path / 'models.toml'}, line {line}: model 'gpt-4o-mini': "
        "price_output must be a number from 0 to under 1000000 with at most 6 decimals "
        "(a price per million tokens)"
    )


def test_admin_edits_a_models_prices(admin, providers):
    form = {"provider": providers["beta"].pk, "label": "Strong", "enabled": "on"}
    response = admin.post(
        "/admin/catalogue/model/strong/change/",
        {**form, "price_input": "2.5", "price_cached_input": "1.25", "price_output": "10"},
    )

    assert response.status_code == 302
    strong = Model.objects.get(pk="strong")
    assert (strong.price_input, strong.price_cached_input, strong.price_output) == (
        Decimal("2.5"),
        Decimal("1.25"),
        Decimal("10"),
    )
    assert selectors.prices()["strong"] == Price(
        input=Decimal("2.5"), cached_input=Decimal("1.25"), output=Decimal("10")
    )
    assert selectors.prices()["fast"] == Price()
    page = admin.get("/admin/catalogue/model/strong/change/").content.decode()
    assert "Prices per million tokens" in page and 'value="1.250000"' in page

    refused = admin.post(
        "/admin/catalogue/model/strong/change/",
        {**form, "price_input": "-1", "price_output": "0.0000001"},
    )
    assert refused.status_code == 200
    html = refused.content.decode()
    assert "Ensure this value is greater than or equal to 0." in html
    assert "Ensure that there are no more than 6 decimal places." in html
    assert Model.objects.get(pk="strong").price_input == Decimal("2.5")


def test_the_file_catalogue_page_shows_the_prices(admin, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_API_KEY", "sk-local")
    settings.CHATBOT_MODELS = load(tmp_path, GOOD + PRICES)
    settings.CHATBOT_MODELS_FILE = str(tmp_path / "models.toml")

    page = admin.get("/admin/catalogue/model/").content.decode()

    assert "<td>0.15, 0.075, 0.6</td>" in page and "<td>—, —, —</td>" in page


@pytest.mark.django_db(transaction=True)
def test_a_fallback_reply_is_priced_by_the_model_that_answered(providers, user, second_upstream):
    Model.objects.filter(pk="down").update(
        price_input=Decimal("100"), price_cached_input=Decimal("100"), price_output=Decimal("100")
    )
    Model.objects.filter(pk="strong").update(
        price_input=Decimal("3"), price_cached_input=Decimal("1.5"), price_output=Decimal("15")
    )
    second_upstream.default.cached_tokens = 2
    response = bearer_client(user).post(
        "/api/chat", {"message": "hello there", "model": "down"}, content_type="application/json"
    )
    assert response.status_code == 200
    answered = Message.objects.get(pk=response.json()["messageId"])
    assert answered.model == "strong" and answered.cached_tokens == 2
    assert answered.prompt_tokens > 2 and answered.completion_tokens
    today = answered.created_at.date().isoformat()

    dashboard = (
        staff_client(allowed=True).get(URL, {"start": today, "end": today}).context["dashboard"]
    )

    expected = (
        (answered.prompt_tokens - 2) * Decimal("3")
        + 2 * Decimal("1.5")
        + answered.completion_tokens * Decimal("15")
    ) / 10**6
    assert [(row["model"], row["cost"]) for row in dashboard.by_model] == [("strong", expected)]
    assert dashboard.totals["cost"] == expected
