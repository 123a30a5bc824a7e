"""catalogue/admin.py and models.py called directly, the cases mutation testing found
unchecked: "Test connection"'s exact report (none, 20 and 21 models, each failure), the
rows read-only while a file is the catalogue (and editable without one), the form's
default and fallback rules, the id read-only once saved, the price field's options (made
when the module is imported, so asserted by calling it), and each model's name."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.validators import MinValueValidator
from django.http import Http404
from django.test import Client, RequestFactory

from catalogue import admin as catalogue_admin
from catalogue.admin import ModelAdmin, ModelForm, ProviderAdmin, connection_report
from catalogue.entries import ModelEntry, ProviderEntry
from catalogue.models import Model, Provider, price_field
from conversations.errors import LLMUnavailable
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

KEYED = ProviderEntry(name="p", base_url="http://127.0.0.1:1/v1", api_key_env="P_KEY", api_key="k")


@pytest.fixture
def listed(monkeypatch):
    names: list[str] = []
    seen: list[ProviderEntry] = []

    def list_models(entry):
        seen.append(entry)
        return names

    monkeypatch.setattr(catalogue_admin.llm, "list_models", list_models)
    return names, seen


def test_the_report_lists_up_to_20_models(listed):
    names, seen = listed
    assert connection_report(KEYED) == ("p: connected; 0 models: none.", messages.SUCCESS)
    names += [f"m{n}" for n in range(20)]
    assert connection_report(KEYED) == (
        "p: connected; 20 models: " + ", ".join(names) + ".",
        messages.SUCCESS,
    )
    names.append("m20")
    assert connection_report(KEYED) == (
        "p: connected; 21 models: " + ", ".join(names[:20]) + " ….",
        messages.SUCCESS,
    )
    assert seen == [KEYED] * 3


def test_the_report_says_what_failed(listed, monkeypatch):
    unset = ProviderEntry(name="q", base_url="", api_key_env="Q_KEY", api_key="")
    assert connection_report(unset) == (
        "q: the environment variable Q_KEY is not set.",
        messages.ERROR,
    )
    _, seen = listed
    assert seen == []
    # No variable named: nothing to be missing.
    open_ = ProviderEntry(name="o", base_url="", api_key_env="", api_key="")
    assert connection_report(open_)[1] == messages.SUCCESS

    def refuse(entry):
        raise LLMUnavailable("cannot connect to the server")

    monkeypatch.setattr(catalogue_admin.llm, "list_models", refuse)
    assert connection_report(KEYED) == ("p: cannot connect to the server", messages.ERROR)


@pytest.fixture
def staff_request():
    request = RequestFactory().post("/admin/catalogue/provider/test-connection/", {"provider": "p"})
    request.user = UserFactory(is_staff=True, is_superuser=True)
    request.session = {}
    request._messages = messages.storage.default_storage(request)
    return request


def file_catalogue(settings):
    settings.CHATBOT_MODELS_FILE = "/etc/models.toml"
    settings.CHATBOT_MODELS = (
        ModelEntry(
            id="m",
            label="M",
            provider=KEYED,
            upstream="m",
            context_tokens=10,
            reply_tokens=5,
            default=True,
        ),
    )


def test_rows_are_editable_without_a_file_and_read_only_with_one(settings, staff_request):
    settings.CHATBOT_MODELS = None
    row = Provider.objects.create(name="p")
    for model_admin in (ProviderAdmin(Provider, admin.site), ModelAdmin(Model, admin.site)):
        assert model_admin.has_add_permission(staff_request) is True
        assert model_admin.has_change_permission(staff_request, row) is True
        assert model_admin.has_delete_permission(staff_request, row) is True
    file_catalogue(settings)
    for model_admin in (ProviderAdmin(Provider, admin.site), ModelAdmin(Model, admin.site)):
        assert model_admin.has_add_permission(staff_request) is False
        assert model_admin.has_change_permission(staff_request, row) is False
        assert model_admin.has_delete_permission(staff_request, row) is False
        assert model_admin.has_view_permission(staff_request) is True


def test_a_plain_staff_member_without_permissions_gets_no_row_rights(settings):
    settings.CHATBOT_MODELS = None
    request = RequestFactory().get("/admin/")
    request.user = UserFactory(is_staff=True)
    providers = ProviderAdmin(Provider, admin.site)
    assert providers.has_add_permission(request) is False
    assert providers.has_change_permission(request) is False
    assert providers.has_delete_permission(request) is False


def test_with_a_file_the_list_is_the_files_catalogue(settings, staff_request):
    file_catalogue(settings)
    request = RequestFactory().get("/admin/catalogue/model/")
    request.user = staff_request.user

    response = ModelAdmin(Model, admin.site).changelist_view(request)

    assert response.template_name == "catalogue/file_catalogue.html"
    context = response.context_data
    assert (context["title"], context["path"]) == ("Models and providers", "/etc/models.toml")
    assert context["models"] == settings.CHATBOT_MODELS
    assert context["providers"] == (KEYED,)
    assert context["test_url"] == "/admin/catalogue/provider/test-connection/"
    assert context["opts"] is Model._meta
    # Rendered for this request: the form of each provider carries its CSRF token.
    page = response.render().content.decode()
    assert "<code>/etc/models.toml</code>" in page
    form = page.split('action="/admin/catalogue/provider/test-connection/">', 1)[1]
    form = form.split("</form>", 1)[0]
    assert 'name="csrfmiddlewaretoken"' in form
    assert '<input type="hidden" name="provider" value="p">' in form


def test_without_a_file_the_list_is_django_s_with_the_context_given(settings, staff_request):
    settings.CHATBOT_MODELS = None
    request = RequestFactory().get("/admin/catalogue/model/")
    request.user = staff_request.user

    response = ModelAdmin(Model, admin.site).changelist_view(request, {"title": "Chosen"})

    assert response.template_name[-1] == "admin/change_list.html"
    assert response.context_data["title"] == "Chosen"


def test_with_a_file_a_member_without_view_rights_gets_django_s_answer(settings):
    file_catalogue(settings)
    request = RequestFactory().get("/admin/catalogue/model/")
    request.user = UserFactory(is_staff=True)
    with pytest.raises(PermissionDenied):
        ModelAdmin(Model, admin.site).changelist_view(request)


def test_testing_a_files_provider(settings, staff_request, listed):
    file_catalogue(settings)
    names, seen = listed
    names.append("m1")
    providers = ProviderAdmin(Provider, admin.site)

    response = providers.test_file_provider(staff_request)

    assert (response.status_code, response["Location"]) == (302, "/admin/catalogue/provider/")
    said = [(m.message, m.level) for m in messages.get_messages(staff_request)]
    assert said == [("p: connected; 1 models: m1.", messages.SUCCESS)]
    assert seen == [KEYED]
    staff_request.POST = staff_request.POST.copy()
    staff_request.POST["provider"] = "other"
    with pytest.raises(Http404) as caught:
        providers.test_file_provider(staff_request)
    assert str(caught.value) == "No provider of that name in CHATBOT_MODELS_FILE."
    del staff_request.POST["provider"]
    with pytest.raises(Http404):
        providers.test_file_provider(staff_request)
    staff_request.user = UserFactory(is_staff=True)
    with pytest.raises(PermissionDenied):
        providers.test_file_provider(staff_request)


def test_a_post_without_a_provider_name_tests_none(settings, staff_request, listed):
    # Whatever the file's providers are called: mutmut's stand-in name among them.
    file_catalogue(settings)
    odd = ProviderEntry(name="XXXX", base_url="http://127.0.0.1:2/v1", api_key_env="")
    settings.CHATBOT_MODELS = (replace(settings.CHATBOT_MODELS[0], provider=odd),)
    staff_request.POST = staff_request.POST.copy()
    del staff_request.POST["provider"]
    with pytest.raises(Http404):
        ProviderAdmin(Provider, admin.site).test_file_provider(staff_request)
    assert listed[1] == []


def test_the_file_test_takes_a_post_from_staff_only(settings, listed):
    file_catalogue(settings)
    listed[0].append("m1")
    url = "/admin/catalogue/provider/test-connection/"
    staff = Client()
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))

    assert staff.get(url).status_code == 405
    response = staff.post(url, {"provider": "p"})
    assert (response.status_code, response["Location"]) == (302, "/admin/catalogue/provider/")
    said = [str(m) for m in staff.get("/admin/catalogue/provider/").context["messages"]]
    assert said == ["p: connected; 1 models: m1."]
    member = Client()
    member.force_login(UserFactory())
    response = member.post(url, {"provider": "p"})
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert listed[1] == [KEYED]


def test_the_file_test_has_its_url_before_the_admins_own(settings, staff_request, listed):
    # The URLconf is built once per process; its views are taken here from get_urls itself.
    file_catalogue(settings)
    listed[0].append("m1")
    urls = ProviderAdmin(Provider, admin.site).get_urls()
    assert str(urls[0].pattern) == "test-connection/"
    assert urls[0].name == "catalogue_provider_test_file"
    assert len(urls) > 1
    staff_request._dont_enforce_csrf_checks = True

    response = urls[0].callback(staff_request)

    assert (response.status_code, response["Location"]) == (302, "/admin/catalogue/provider/")
    assert listed[1] == [KEYED]


def form(data: dict, instance=None) -> ModelForm:
    fields = {"provider": Provider.objects.get_or_create(name="p")[0].pk, "enabled": True}
    return ModelForm(data={**fields, **data}, instance=instance)


def test_the_first_model_must_be_the_default_and_a_second_may_not_be(settings):
    settings.CHATBOT_MODELS = None
    first = form({"id": "a"})
    assert first.errors == {"is_default": ["One model must be the default."]}
    first = form({"id": "a", "is_default": True})
    assert first.is_valid(), first.errors
    saved = first.save()
    second = form({"id": "b", "is_default": True})
    assert second.errors == {"is_default": ["a is already the default: untick it there first."]}
    assert form({"id": "b"}).is_valid()
    # Saving the default itself again is no second default; unticking it leaves none.
    assert form({"id": "a", "is_default": True}, instance=saved).is_valid()
    assert form({"id": "a"}, instance=saved).errors == {
        "is_default": ["One model must be the default."]
    }


def test_a_model_cannot_fall_back_to_itself(settings):
    settings.CHATBOT_MODELS = None
    main = form({"id": "a", "is_default": True}).save()
    other = form({"id": "b"}).save()
    assert form({"id": "b", "fallback": "a"}, instance=other).is_valid()
    assert form({"id": "c", "fallback": "a"}).is_valid()
    assert form({"id": "a", "is_default": True, "fallback": "a"}, instance=main).errors == {
        "fallback": ["A model cannot be its own fallback."]
    }


def test_a_saved_model_cannot_fall_back_to_itself_in_admin_s_form(settings, staff_request):
    # Admin's form of a saved model has no id field (read-only): the row's own id counts.
    settings.CHATBOT_MODELS = None
    main = form({"id": "a", "is_default": True}).save()
    other = form({"id": "b"}).save()
    models = ModelAdmin(Model, admin.site)
    change = models.get_form(staff_request, obj=main, change=True)
    assert "id" not in change.base_fields
    data = {"provider": main.provider_id, "enabled": True, "is_default": True, "fallback": "a"}
    assert change(data=data, instance=main).errors == {
        "fallback": ["A model cannot be its own fallback."]
    }
    assert change(data={**data, "fallback": "b"}, instance=main).is_valid()
    assert models.get_form(staff_request, obj=other, change=True)(
        data={**data, "is_default": False, "fallback": "a"}, instance=other
    ).is_valid()


def test_the_id_is_read_only_once_saved():
    models = ModelAdmin(Model, admin.site)
    request = RequestFactory().get("/")
    assert models.get_readonly_fields(request) == ()
    assert models.get_readonly_fields(request, Model(id="x")) == ("id",)


def test_a_price_field_is_an_optional_non_negative_six_decimal_number():
    field = price_field("the price", help_text="Some help.")
    assert (field.verbose_name, field.help_text) == ("the price", "Some help.")
    assert (field.max_digits, field.decimal_places, field.null, field.blank) == (12, 6, True, True)
    (validator,) = [v for v in field.validators if isinstance(v, MinValueValidator)]
    assert validator.limit_value == 0
    assert field.clean(Decimal("999999.999999"), None) == Decimal("999999.999999")


def test_each_row_names_itself():
    assert str(Provider(name="alpha")) == "alpha"
    assert str(Model(id="m-1", label="Model one")) == "Model one"
    assert str(Model(id="m-1")) == "m-1"
