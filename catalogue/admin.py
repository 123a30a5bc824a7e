"""The catalogue in Django admin: providers (with a "Test connection" action) and models.
With ``CHATBOT_MODELS_FILE`` set the file is the catalogue, shown read-only."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from catalogue import selectors
from catalogue.entries import ProviderEntry
from catalogue.models import Model, Provider
from conversations import llm
from conversations.errors import LLMError


class FileCatalogueReadOnly:
    """No adding, changing or deleting rows while the file is the catalogue."""

    def has_add_permission(self, request, obj=None) -> bool:
        return selectors.uses_admin_rows() and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return selectors.uses_admin_rows() and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return selectors.uses_admin_rows() and super().has_delete_permission(request, obj)

    def changelist_view(self, request, extra_context=None):
        if selectors.uses_admin_rows():
            return super().changelist_view(request, extra_context)
        if not self.has_view_or_change_permission(request):
            return super().changelist_view(request, extra_context)
        context = {
            **self.admin_site.each_context(request),
            "title": "Models and providers",
            "path": settings.CHATBOT_MODELS_FILE,
            "models": selectors.catalogue(),
            "providers": selectors.file_providers(),
            "test_url": reverse("admin:catalogue_provider_test_file"),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "catalogue/file_catalogue.html", context)


@admin.register(Provider)
class ProviderAdmin(FileCatalogueReadOnly, admin.ModelAdmin):
    list_display = ("name", "base_url", "api_key_env")
    actions = ["test_connection"]

    @admin.action(description="Test connection (list the provider's models)")
    def test_connection(self, request, queryset) -> None:
        for provider in queryset:
            self.message_user(request, *connection_report(selectors.provider_entry(provider)))

    def get_urls(self):
        test_file = self.admin_site.admin_view(require_POST(self.test_file_provider))
        return [
            path("test-connection/", test_file, name="catalogue_provider_test_file"),
            *super().get_urls(),
        ]

    def test_file_provider(self, request):
        """The same test for a provider of the file, which has no row to select."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        name = request.POST.get("provider", "")
        entry = next((p for p in selectors.file_providers() if p.name == name), None)
        if entry is None:
            raise Http404("No provider of that name in CHATBOT_MODELS_FILE.")
        self.message_user(request, *connection_report(entry))
        return HttpResponseRedirect(reverse("admin:catalogue_provider_changelist"))


def connection_report(entry: ProviderEntry) -> tuple[str, int]:
    """What "Test connection" tells the administrator about one provider."""
    if entry.api_key_env and not entry.api_key:
        return f"{entry.name}: the environment variable {entry.api_key_env} is not set.", (
            messages.ERROR
        )
    try:
        names = llm.list_models(entry)
    except LLMError as exc:
        return f"{entry.name}: {exc.detail}", messages.ERROR
    listed = ", ".join(names[:20]) + (" …" if len(names) > 20 else "")
    return f"{entry.name}: connected; {len(names)} models: {listed or 'none'}.", messages.SUCCESS


class ModelForm(forms.ModelForm):
    class Meta:
        model = Model
        fields = [
            "id",
            "label",
            "provider",
            "upstream_name",
            "context_tokens",
            "vision",
            "is_default",
            "fallback",
            "enabled",
            "groups",
            "price_input",
            "price_cached_input",
            "price_output",
        ]

    def clean(self) -> dict:
        data = super().clean()
        adding = self.instance._state.adding
        others = Model.objects.all() if adding else Model.objects.exclude(pk=self.instance.pk)
        other_default = others.filter(is_default=True).first()
        if data.get("is_default") and other_default is not None:
            self.add_error(
                "is_default",
                f"{other_default.pk} is already the default: untick it there first.",
            )
        elif not data.get("is_default") and other_default is None:
            self.add_error("is_default", "One model must be the default.")
        fallback = data.get("fallback")
        if fallback is not None and fallback.pk == data.get("id", self.instance.pk):
            self.add_error("fallback", "A model cannot be its own fallback.")
        return data


@admin.register(Model)
class ModelAdmin(FileCatalogueReadOnly, admin.ModelAdmin):
    form = ModelForm
    list_display = ("id", "label", "provider", "upstream_name", "is_default", "enabled")
    list_filter = ("enabled", "provider")
    filter_horizontal = ("groups",)
    fieldsets = (
        (None, {"fields": ModelForm.Meta.fields[:-3]}),
        (
            "Prices per million tokens",
            {
                "fields": ModelForm.Meta.fields[-3:],
                "description": "Turn stored tokens into the estimated cost on the usage "
                "dashboard; empty: unknown.",
            },
        ),
    )

    def get_readonly_fields(self, request, obj=None) -> tuple[str, ...]:
        # The id is what conversations store: renaming it would orphan them.
        return ("id",) if obj is not None else ()
