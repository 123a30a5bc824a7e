"""The settings pages, the cases mutation testing found unchecked: each form's saved value,
refusal status and sentence, the new token shown once with its expiry, the export's file
name, headers and body in both formats, the deletion signing the browser out, and the
methods each page refuses."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from allauth.usersessions.models import UserSession
from asgiref.sync import async_to_sync
from django.contrib.sessions.models import Session
from django.template.defaultfilters import date as format_date
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken

from accounts import services
from accounts.models import User
from tests.factories import PASSWORD, UserFactory, conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def flash(page: str, text: str) -> bool:
    return f'<li class="flash-success">{text}</li>' in page


def stored(user) -> dict:
    return User.objects.values("custom_instructions", "theme", "language").get(pk=user.pk)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/settings/"),
        ("get", "/settings/tokens/"),
        ("get", "/settings/tokens/abc/revoke/"),
        ("post", "/settings/export/"),
        ("get", "/settings/delete/"),
        ("get", "/settings/sessions/1/end/"),
    ],
)
def test_each_page_refuses_the_other_methods(browser, method, path):
    assert getattr(browser, method)(path).status_code == 405


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/settings/"),
        ("get", "/settings/export/"),
        ("post", "/settings/tokens/"),
        ("post", "/settings/delete/"),
    ],
)
def test_a_visitor_is_sent_to_sign_in(method, path):
    response = getattr(Client(), method)(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_instructions_are_saved_with_a_message(browser, user):
    response = browser.post("/settings/", {"custom_instructions": "Answer in haiku."})
    assert (response.status_code, response["Location"]) == (302, "/settings/")
    assert stored(user)["custom_instructions"] == "Answer in haiku."
    assert flash(browser.get("/settings/").content.decode(), "Your custom instructions were saved.")


def test_instructions_over_the_limit_are_a_400_and_nothing_changes(browser, user):
    services.set_custom_instructions(user=user, text="Kept.")
    response = browser.post("/settings/", {"custom_instructions": "x" * 4001})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Ensure this value has at most 4000 characters (it has 4001)." in page
    assert "x" * 4001 in page  # the form shows what was typed
    assert stored(user)["custom_instructions"] == "Kept."
    exact = browser.post("/settings/", {"custom_instructions": "y" * 4000})
    assert exact.status_code == 302 and stored(user)["custom_instructions"] == "y" * 4000


def test_preferences_are_saved_and_said_in_the_new_language(browser, user):
    response = browser.post(
        "/settings/", {"form": "preferences", "theme": "dark", "language": "de"}
    )
    assert (response.status_code, response["Location"]) == (302, "/settings/")
    assert stored(user) | {"custom_instructions": ""} == {
        "custom_instructions": "",
        "theme": "dark",
        "language": "de",
    }
    assert flash(
        browser.get("/settings/").content.decode(), "Ihre Einstellungen wurden gespeichert."
    )


def test_preferences_back_to_the_browsers_language_are_said_in_english(browser, user):
    services.set_preferences(user=user, theme="dark", language="")
    response = browser.post("/settings/", {"form": "preferences", "theme": "light", "language": ""})
    assert response.status_code == 302
    assert (stored(user)["theme"], stored(user)["language"]) == ("light", "")
    assert flash(browser.get("/settings/").content.decode(), "Your preferences were saved.")


def test_bad_preferences_are_a_400_and_nothing_changes(browser, user):
    response = browser.post(
        "/settings/", {"form": "preferences", "theme": "dark", "language": "it"}
    )
    assert response.status_code == 400
    assert "Select a valid choice. it is not one of the available choices." in (
        response.content.decode()
    )
    assert (stored(user)["theme"], stored(user)["language"]) == ("system", "")
    assert stored(user)["custom_instructions"] == ""


def test_a_post_of_another_form_saves_the_instructions_not_the_preferences(browser, user):
    response = browser.post(
        "/settings/",
        {"form": "instructions", "custom_instructions": "Short.", "theme": "dark"},
    )
    assert response.status_code == 302
    assert stored(user) == {"custom_instructions": "Short.", "theme": "system", "language": ""}


def test_a_new_token_is_shown_once_with_its_expiry_and_listed(browser, user):
    response = browser.post("/settings/tokens/")
    assert response.status_code == 200
    page = response.content.decode()
    record = AuthToken.objects.get(user=user)
    assert page.count('<code class="token" id="new-token-value">') == 1
    assert f"it expires {format_date(record.expiry, 'DATE_FORMAT')}" in page
    assert f"<code>{record.token_key}…</code>" in page
    again = browser.get("/settings/").content.decode()
    assert 'id="new-token-value"' not in again
    assert f"<code>{record.token_key}…</code>" in again


def test_the_token_list_shows_the_users_own_tokens(browser, user):
    mine = services.issue_token(user=user).record
    theirs = services.issue_token(user=UserFactory()).record
    page = browser.get("/settings/").content.decode()
    assert f"<code>{mine.token_key}…</code>" in page
    assert theirs.token_key not in page
    assert "You have no API tokens." not in page


def test_revoking_a_token_removes_it_with_a_message(browser, user):
    record = services.issue_token(user=user).record
    response = browser.post(f"/settings/tokens/{record.token_key}/revoke/")
    assert (response.status_code, response["Location"]) == (302, "/settings/")
    assert not AuthToken.objects.filter(pk=record.pk).exists()
    assert flash(browser.get("/settings/").content.decode(), "The token was revoked.")


def test_revoking_an_unknown_or_anothers_token_is_a_404(browser):
    theirs = services.issue_token(user=UserFactory()).record
    assert browser.post(f"/settings/tokens/{theirs.token_key}/revoke/").status_code == 404
    assert browser.post("/settings/tokens/nothing/revoke/").status_code == 404
    assert AuthToken.objects.filter(pk=theirs.pk).exists()


def attachment_name(extension: str) -> str:
    return f'attachment; filename="chatbot-export-{timezone.now():%Y-%m-%d}.{extension}"'


@pytest.mark.parametrize("query", ["", "?format=json"])
def test_the_json_export_is_the_users_data_as_a_named_download(browser, user, query):
    conversation(user, title="Mine")
    conversation(UserFactory(), title="Theirs")
    response = browser.get(f"/settings/export/{query}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == attachment_name("json")
    body = response.content.decode()
    exported = json.loads(body)
    assert body == json.dumps(exported, ensure_ascii=False, indent=2)
    expected = json.loads(json.dumps(services.export_user_data(user)))
    assert exported | {"exportedAt": None} == expected | {"exportedAt": None}
    assert [session["title"] for session in exported["conversations"]] == ["Mine"]


def test_the_export_keeps_non_ascii_text_readable(browser, user):
    conversation(user, title="Grüße ✓")
    body = browser.get("/settings/export/").content.decode()
    assert '"Grüße ✓"' in body


async def read_all(chunks) -> bytes:
    return b"".join([chunk async for chunk in chunks])


def test_the_zip_export_has_its_length_and_the_export_inside(browser, user):
    conversation(user, title="Zipped")
    response = browser.get("/settings/export/?format=zip")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == attachment_name("zip")
    body = async_to_sync(read_all)(response.streaming_content)
    assert int(response["Content-Length"]) == len(body)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        exported = json.loads(archive.read("export.json"))
    assert [session["title"] for session in exported["conversations"]] == ["Zipped"]


@pytest.mark.parametrize("export_format", ["xml", "JSON", ""])
def test_another_export_format_is_a_400_saying_which_exist(browser, export_format):
    response = browser.get(f"/settings/export/?format={export_format}")
    assert response.status_code == 400
    assert response.json() == {"detail": "Choose format=json or format=zip."}


def test_a_wrong_password_deletes_nothing_and_says_why(browser, user):
    response = browser.post("/settings/delete/", {"password": "wrong"})
    assert response.status_code == 400
    assert "That is not your password." in response.content.decode()
    assert User.objects.filter(pk=user.pk).exists()
    assert browser.get("/settings/").status_code == 200


def test_deleting_the_account_signs_the_browser_out_with_a_message(browser, user):
    key = browser.session.session_key
    response = browser.post("/settings/delete/", {"password": PASSWORD})
    assert (response.status_code, response["Location"]) == (302, "/accounts/login/")
    assert not User.objects.filter(pk=user.pk).exists()
    assert not Session.objects.filter(session_key=key).exists()
    page = browser.get("/accounts/login/").content.decode()
    assert flash(page, "Your account and all its conversations were deleted.")


def test_ending_another_browser_returns_to_the_security_section(browser, user):
    other = Client()
    other.force_login(user)
    session = UserSession.objects.create(
        user=user, session_key=other.session.session_key, ip="10.5.0.1", user_agent="Agent/2"
    )
    response = browser.post(f"/settings/sessions/{session.pk}/end/")
    assert (response.status_code, response["Location"]) == (302, "/settings/#security-sessions")
    assert not UserSession.objects.filter(pk=session.pk).exists()
    assert flash(browser.get("/settings/").content.decode(), "That browser was signed out.")
    assert browser.post(f"/settings/sessions/{session.pk}/end/").status_code == 404


def test_the_page_shows_each_form_filled_with_the_users_settings(browser, user):
    services.set_preferences(user=user, theme="dark", language="")
    services.set_custom_instructions(user=user, text="Be brief.")
    page = browser.get("/settings/").content.decode()
    assert 'id="id_custom_instructions">\nBe brief.</textarea>' in page
    assert '<input type="radio" name="theme" value="dark" id="id_theme_2" required checked>' in page
    assert '<option value="" selected>Same as the browser</option>' in page
    assert (
        '<input type="password" name="password" autocomplete="current-password" required '
        'id="id_password">'
    ) in page
    assert '<label for="id_password">Your password</label>' in page
