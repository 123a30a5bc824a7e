"""catalogue/entries.py, fields.py and selectors.py called directly, the cases mutation
testing found unchecked: exact costs (and when there is none), the reply's reserve at its
edges, every field of an entry built from the settings and from an admin row, which models
a user may use with a second user in other groups, each refusal's sentence, and the
queries the catalogue costs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError
from rest_framework.exceptions import ValidationError

from catalogue import selectors
from catalogue.entries import ModelEntry, Price, ProviderEntry, reply_tokens_for
from catalogue.fields import ModelIdField, ModelIdFieldExtension
from catalogue.models import Model, Provider
from core.errors import InvalidInput
from tests.factories import UserFactory

LOCAL = ProviderEntry(name="local", base_url="http://127.0.0.1:1/v1", api_key_env="")


def entry(model_id: str, **fields) -> ModelEntry:
    values = {
        "label": model_id,
        "provider": LOCAL,
        "upstream": model_id,
        "context_tokens": 1000,
        "reply_tokens": 100,
        **fields,
    }
    return ModelEntry(id=model_id, **values)


# --- entries ------------------------------------------------------------------------------


def test_a_cost_is_each_kind_of_token_at_its_rate_per_million():
    price = Price(input=Decimal("2.5"), cached_input=Decimal("1.25"), output=Decimal(10))

    cost = price.cost(prompt_tokens=1000, cached_tokens=200, completion_tokens=500)

    assert cost == Decimal("0.00725") and type(cost) is Decimal
    assert price.cost(prompt_tokens=0, cached_tokens=0, completion_tokens=0) == 0
    assert price.cost(prompt_tokens=3, cached_tokens=0, completion_tokens=0) == Decimal("0.0000075")


def test_without_prices_or_without_the_one_needed_there_is_no_cost():
    assert Price().cost(prompt_tokens=10, cached_tokens=0, completion_tokens=10) is None
    assert Price().cost(prompt_tokens=0, cached_tokens=0, completion_tokens=0) is None
    output_only = Price(output=Decimal(4))
    assert output_only.cost(prompt_tokens=0, cached_tokens=0, completion_tokens=10) == Decimal(
        "0.00004"
    )
    assert output_only.cost(prompt_tokens=1, cached_tokens=0, completion_tokens=10) is None
    no_cache = Price(input=Decimal(1), output=Decimal(1))
    assert no_cache.cost(prompt_tokens=5, cached_tokens=5, completion_tokens=0) is None
    assert no_cache.cost(prompt_tokens=5, cached_tokens=0, completion_tokens=0) == Decimal(
        "0.000005"
    )


def test_free_tokens_cost_exactly_zero_as_a_decimal():
    cost = Price(input=Decimal(0), output=Decimal(0)).cost(
        prompt_tokens=7, cached_tokens=0, completion_tokens=3
    )
    assert cost == 0 and type(cost) is Decimal


def test_tokens_without_a_price_or_a_price_without_tokens_add_no_decimal_places():
    # A Decimal keeps its places: 0 tokens at 0.000001 would add 0E-6 and print 1.000000.
    price = Price(input=Decimal(2), cached_input=Decimal("0.000001"))
    assert str(price.cost(prompt_tokens=500_000, cached_tokens=0, completion_tokens=0)) == "1"
    # Free as the admin's fields store it (six places): 0, not 0E-6.
    free = Price(input=Decimal("0.000000"), cached_input=Decimal(0), output=Decimal("0.000000"))
    assert str(free.cost(prompt_tokens=7, cached_tokens=2, completion_tokens=3)) == "0"


@pytest.mark.parametrize(
    ("window", "most", "reserve"),
    [(8000, 1000, 1000), (2000, 1000, 1000), (2001, 1000, 1000), (1999, 1000, 999), (3, 9, 1)],
)
def test_the_reply_keeps_its_most_or_half_of_a_smaller_window(window, most, reserve):
    assert reply_tokens_for(context_tokens=window, max_reply_tokens=most) == reserve


def test_the_prompt_budget_is_the_window_less_the_reply():
    assert entry("m", context_tokens=1000, reply_tokens=300).prompt_budget == 700


@pytest.mark.parametrize(
    ("fields", "groups", "allowed"),
    [
        ({}, frozenset(), True),
        ({}, frozenset({"a"}), True),
        ({"enabled": False}, frozenset(), False),
        ({"groups": frozenset({"a"})}, frozenset(), False),
        ({"groups": frozenset({"a"})}, frozenset({"b"}), False),
        ({"groups": frozenset({"a", "c"})}, frozenset({"b", "c"}), True),
        ({"groups": frozenset({"a"}), "enabled": False}, frozenset({"a"}), False),
    ],
)
def test_a_model_allows_everyone_or_its_groups_while_enabled(fields, groups, allowed):
    assert entry("m", **fields).allows(groups) is allowed


# --- fields -------------------------------------------------------------------------------


def test_a_model_id_must_be_a_string():
    field = ModelIdField()
    assert field.run_validation("  gpt-4o ") == "gpt-4o"
    for value in (5, ["m"], {"id": "m"}, True):
        with pytest.raises(ValidationError) as caught:
            field.run_validation(value)
        assert caught.value.detail == ["Must be a string."]


def test_the_schema_lists_the_enabled_models_ids(settings):
    settings.CHATBOT_MODELS = (
        entry("b"),
        entry("off", enabled=False),
        entry("a", default=True),
        entry("g", groups=frozenset({"x"})),
    )
    schema = ModelIdFieldExtension(ModelIdField()).map_serializer_field(None, "request")
    assert schema == {"type": "string", "enum": ["a", "b", "g"]}


def test_without_a_database_the_schema_still_generates(monkeypatch):
    def down():
        raise DatabaseError("no such table")

    monkeypatch.setattr(selectors, "catalogue", down)
    schema = ModelIdFieldExtension(ModelIdField()).map_serializer_field(None, "request")
    assert schema == {"type": "string", "description": "An id from GET /api/models."}


# --- selectors: the settings' catalogue ---------------------------------------------------


@pytest.fixture
def no_rows(db, settings):
    settings.CHATBOT_MODELS = None
    settings.CHATBOT_CONTEXT_TOKENS = 3000
    settings.CHATBOT_MAX_REPLY_TOKENS = 1000
    settings.CHATBOT_MODEL = "my-model"
    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_API_KEY = ""
    return settings


def test_without_url_or_key_the_catalogue_is_the_demo(no_rows):
    assert selectors.catalogue() == (
        ModelEntry(
            id="demo",
            label="Demo",
            provider=None,
            upstream="demo",
            context_tokens=3000,
            reply_tokens=1000,
            default=True,
        ),
    )
    assert selectors.uses_admin_rows() is True
    assert selectors.file_providers() == ()


@pytest.mark.parametrize(("url", "key"), [("http://127.0.0.1:9/v1", ""), ("", "sk-only")])
def test_a_url_or_a_key_makes_the_settings_model_the_catalogue(no_rows, url, key):
    no_rows.OPENAI_BASE_URL, no_rows.OPENAI_API_KEY = url, key
    no_rows.CHATBOT_CONTEXT_TOKENS = 1500
    assert selectors.catalogue() == (
        ModelEntry(
            id="my-model",
            label="my-model",
            provider=ProviderEntry(
                name="default", base_url=url, api_key_env="OPENAI_API_KEY", api_key=key
            ),
            upstream="my-model",
            context_tokens=1500,
            reply_tokens=750,
            default=True,
        ),
    )


def test_the_files_catalogue_is_used_whole_the_default_first(settings):
    other = ProviderEntry(name="other", base_url="http://127.0.0.1:2/v1", api_key_env="")
    models = (
        entry("one"),
        entry("two", provider=other),
        entry("main", default=True),
        entry("off", enabled=False, provider=None),
        entry("three", provider=ProviderEntry(name="local", base_url="x", api_key_env="")),
    )
    settings.CHATBOT_MODELS = models

    assert [e.id for e in selectors.catalogue()] == ["main", "one", "two", "off", "three"]
    assert selectors.uses_admin_rows() is False
    # Each provider once, in the file's order, the first of a name kept.
    assert selectors.file_providers() == (LOCAL, other)
    assert selectors.prices() == {e.id: e.price for e in models}


# --- selectors: admin rows ------------------------------------------------------------------


@pytest.fixture
def rows(no_rows, monkeypatch):
    monkeypatch.setenv("ROWS_KEY", "sk-rows")
    keyed = Provider.objects.create(
        name="keyed", base_url="http://127.0.0.1:3/v1", api_key_env="ROWS_KEY"
    )
    open_ = Provider.objects.create(name="open", base_url="")
    main = Model.objects.create(
        id="main",
        label="Main",
        provider=keyed,
        upstream_name="vendor/main-v2",
        context_tokens=5000,
        vision=True,
        is_default=True,
        price_input=Decimal("1.5"),
        price_cached_input=Decimal("0.5"),
        price_output=Decimal("6"),
    )
    plain = Model.objects.create(id="plain", provider=open_, fallback=main)
    research = Model.objects.create(id="research", label="R", provider=keyed, enabled=False)
    research.groups.add(Group.objects.create(name="Research"), Group.objects.create(name="Lab"))
    return {"main": main, "plain": plain, "research": research}


def test_admin_rows_become_entries_field_by_field(rows):
    by_id = {e.id: e for e in selectors.catalogue()}
    keyed = ProviderEntry(
        name="keyed", base_url="http://127.0.0.1:3/v1", api_key_env="ROWS_KEY", api_key="sk-rows"
    )
    main = ModelEntry(
        id="main",
        label="Main",
        provider=keyed,
        upstream="vendor/main-v2",
        context_tokens=5000,
        reply_tokens=1000,
        vision=True,
        default=True,
        price=Price(input=Decimal("1.5"), cached_input=Decimal("0.5"), output=Decimal(6)),
    )
    assert by_id["main"] == main
    assert by_id["plain"] == ModelEntry(
        id="plain",
        label="plain",
        provider=ProviderEntry(name="open", base_url="", api_key_env="", api_key=""),
        upstream="plain",
        context_tokens=3000,
        reply_tokens=1000,
        fallback=main,
    )
    research = by_id["research"]
    assert (research.enabled, research.groups, research.label) == (
        False,
        frozenset({"Research", "Lab"}),
        "R",
    )
    assert research.provider is by_id["main"].provider
    assert [e.id for e in selectors.catalogue()] == ["main", "plain", "research"]
    assert selectors.prices() == {
        "main": main.price,
        "plain": Price(),
        "research": Price(),
    }


def test_a_providers_key_is_read_from_its_variable_now(rows, monkeypatch):
    keyed = Provider.objects.get(name="keyed")
    monkeypatch.setenv("ROWS_KEY", "sk-rotated")
    assert selectors.provider_entry(keyed).api_key == "sk-rotated"
    monkeypatch.delenv("ROWS_KEY")
    assert selectors.provider_entry(keyed).api_key == ""
    # No variable named: no key, whatever the environment holds.
    assert selectors.provider_entry(Provider.objects.get(name="open")).api_key == ""


def test_the_catalogue_of_rows_costs_two_queries(rows, django_assert_num_queries):
    with django_assert_num_queries(2):  # models with their providers, their groups
        selectors.catalogue()
    with django_assert_num_queries(1):
        selectors.prices()


def test_a_users_models_are_the_enabled_ones_of_their_groups(rows):
    Model.objects.filter(pk="research").update(enabled=True)
    member, stranger = UserFactory(), UserFactory()
    member.groups.add(Group.objects.get(name="Lab"))
    stranger.groups.add(Group.objects.create(name="Other"))

    assert [e.id for e in selectors.models_for(member)] == ["main", "plain", "research"]
    assert [e.id for e in selectors.models_for(stranger)] == ["main", "plain"]
    assert selectors.model_for(user=member, model_id="research").id == "research"
    with pytest.raises(InvalidInput) as caught:
        selectors.model_for(user=stranger, model_id="research")
    assert (caught.value.detail, caught.value.field) == ("Unknown model 'research'.", "model")


def test_groups_are_read_only_when_a_model_is_restricted(no_rows, django_assert_num_queries):
    user = UserFactory()
    with django_assert_num_queries(1):  # the rows (none): the settings' model
        assert [e.id for e in selectors.models_for(user)] == ["demo"]


def test_the_asked_for_the_default_or_a_refusal(rows):
    user = UserFactory()
    assert selectors.model_for(user=user, model_id=None).id == "main"
    assert selectors.model_for(user=user, model_id="plain").id == "plain"
    for unknown in ("gone", "research", "Main", ""):
        with pytest.raises(InvalidInput) as caught:
            selectors.model_for(user=user, model_id=unknown)
        assert caught.value.detail == f"Unknown model {unknown!r}."


def test_the_default_is_the_first_usable_and_none_is_a_refusal():
    first, second = entry("first"), entry("second", default=True)
    assert selectors.default_from([first, second]) is first
    with pytest.raises(InvalidInput) as caught:
        selectors.default_from([])
    assert (caught.value.detail, caught.value.field) == ("No model is available to you.", "model")


def test_a_conversation_keeps_its_model_while_usable_else_the_default(rows):
    user = UserFactory()
    assert selectors.session_model(user=user, model_id="plain").id == "plain"
    assert selectors.session_model(user=user, model_id="research").id == "main"
    assert selectors.session_model(user=user, model_id="gone").id == "main"
    Model.objects.filter(pk="main").update(is_default=False, enabled=False)
    assert selectors.session_model(user=user, model_id="gone").id == "plain"
    Model.objects.update(enabled=False)
    with pytest.raises(InvalidInput):
        selectors.session_model(user=user, model_id="plain")
