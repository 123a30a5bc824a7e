"""Account settings: custom instructions, API tokens, export and account deletion."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import services
from accounts.forms import DeleteAccountForm, InstructionsForm, PreferencesForm
from attachments.api import chunks_of
from core.http import AuthenticatedHttpRequest


def _settings_page(
    request: AuthenticatedHttpRequest, *, status: int = 200, **context
) -> HttpResponse:
    context.setdefault("instructions_form", InstructionsForm(instance=request.user))
    context.setdefault("preferences_form", PreferencesForm(instance=request.user))
    context.setdefault("delete_form", DeleteAccountForm(user=request.user))
    context["tokens"] = services.tokens_for_user(request.user)
    return render(request, "accounts/settings.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The settings page; a POST saves the custom instructions, or the theme and language."""
    if request.method == "POST" and request.POST.get("form") == "preferences":
        return _save_preferences(request)
    if request.method == "POST":
        form = InstructionsForm(request.POST, instance=request.user)
        if not form.is_valid():
            return _settings_page(request, status=400, instructions_form=form)
        services.set_custom_instructions(
            user=request.user, text=form.cleaned_data["custom_instructions"]
        )
        messages.success(request, gettext("Your custom instructions were saved."))
        return redirect("account-settings")
    return _settings_page(request)


def _save_preferences(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = PreferencesForm(request.POST, instance=request.user)
    if not form.is_valid():
        return _settings_page(request, status=400, preferences_form=form)
    services.set_preferences(
        user=request.user,
        theme=form.cleaned_data["theme"],
        language=form.cleaned_data["language"],
    )
    if form.cleaned_data["language"]:
        translation.activate(form.cleaned_data["language"])
    messages.success(request, gettext("Your preferences were saved."))
    return redirect("account-settings")


@login_required
@require_POST
def create_token(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Issue an API token and show it this once (it is stored only as a digest)."""
    issued = services.issue_token(user=request.user)
    return _settings_page(request, new_token=issued.token, new_token_expiry=issued.record.expiry)


@login_required
@require_POST
def revoke_token(request: AuthenticatedHttpRequest, token_key: str) -> HttpResponse:
    if not services.revoke_token(user=request.user, token_key=token_key):
        raise Http404("Token not found.")
    messages.success(request, gettext("The token was revoked."))
    return redirect("account-settings")


@login_required
@require_GET
def export_data(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    """All of the user's conversations as a JSON download, or with ``?format=zip`` as a zip
    of that JSON and the user's files."""
    export_format = request.GET.get("format", "json")
    if export_format not in ("json", "zip"):
        return JsonResponse({"detail": "Choose format=json or format=zip."}, status=400)
    stem = f"chatbot-export-{timezone.now():%Y-%m-%d}"
    if export_format == "zip":
        archive = services.export_user_archive(user=request.user)
        size = archive.seek(0, 2)
        archive.seek(0)
        archive_response = StreamingHttpResponse(chunks_of(archive), content_type="application/zip")
        archive_response["Content-Length"] = str(size)
        archive_response["Content-Disposition"] = f'attachment; filename="{stem}.zip"'
        return archive_response
    data = services.export_user_data(request.user)
    filename = f"{stem}.json"
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_POST
def delete_account(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Delete the account and all its conversations, confirmed with the password."""
    form = DeleteAccountForm(request.POST, user=request.user)
    if not form.is_valid():
        return _settings_page(request, status=400, delete_form=form)
    user = request.user
    logout(request)
    services.delete_account(user=user)
    messages.success(request, gettext("Your account and all its conversations were deleted."))
    return redirect("account_login")


@login_required
@require_POST
def end_session(request: AuthenticatedHttpRequest, session_id: int) -> HttpResponse:
    """Sign one of the user's other browsers out (Settings, Security)."""
    if not services.end_browser_session(user=request.user, session_id=session_id):
        raise Http404("Session not found.")
    messages.success(request, gettext("That browser was signed out."))
    return redirect(f"{reverse('account-settings')}#security-sessions")
