"""Server-rendered pages with Django's test client: isolation, forms, settings, banners."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from knox.auth import TokenAuthentication
from knox.models import AuthToken
from rest_framework.exceptions import AuthenticationFailed

from accounts.models import User
from accounts.services import issue_token
from attachments.models import MessageAttachment, StoredFile
from catalogue.models import Model, Provider
from conversations import services
from conversations.models import ChatSession, Message
from tests.factories import PASSWORD, ChatSessionFactory, MessageFactory, conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for():
    def make(user, **kwargs) -> Client:
        client = Client(**kwargs)
        client.force_login(user)
        return client

    return make


def test_chat_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_chat_page_lists_only_my_conversations_newest_first(client_for, user, other_user):
    older = ChatSessionFactory(user=user, title="Older chat")
    newer = ChatSessionFactory(user=user, title="Newer chat")
    ChatSession.objects.filter(pk=older.pk).update(updated_at=newer.updated_at.replace(year=2001))
    ChatSessionFactory(user=other_user, title="Somebody else's secret")
    html = client_for(user).get("/").content.decode()
    assert html.index("Newer chat") < html.index("Older chat")
    assert "Somebody else" not in html


def test_search_filters_the_sidebar(client_for, user):
    conversation(user, title="Gardening tips")
    session = ChatSessionFactory(user=user, title="Untitled")
    MessageFactory(session=session, content="how to bake sourdough bread")
    html = client_for(user).get("/?q=sourdough").content.decode()
    assert "Untitled" in html and "Gardening tips" not in html


def test_search_results_show_an_escaped_snippet_with_the_match_marked(
    client_for, user, other_user, django_assert_max_num_queries
):
    mine = ChatSessionFactory(user=user, title="Untitled")
    MessageFactory(session=mine, content="before <script>alert(1)</script> after")
    pinned = ChatSessionFactory(user=user, title="Script notes", pinned=True)
    theirs = ChatSessionFactory(user=other_user, title="Theirs")
    MessageFactory(session=theirs, content="their secret <script>alert(2)</script>")
    html = client_for(user).get("/", {"q": "<script>"}).content.decode()
    assert "before <mark>&lt;script&gt;</mark>alert(1)&lt;/script&gt; after" in html
    assert "<script>alert" not in html and "secret" not in html and "Theirs" not in html
    # Pinned first, archived or not; a title-only match has its title marked and no excerpt.
    ChatSessionFactory(user=user, title="Old script", pinned=True, archived=True)
    html = client_for(user).get("/", {"q": "script"}).content.decode()
    assert "Old <mark>script</mark>" in html
    assert html.index(f'data-session-id="{pinned.pk}"') < html.index(f'data-session-id="{mine.pk}"')
    assert "<mark>Script</mark> notes" in html and 'id="snippet-' + str(pinned.pk) not in html

    ChatSession.objects.bulk_create(
        ChatSession(user=user, title=f"script-{n:03d}.") for n in range(60)
    )
    client = client_for(user)
    cursor = client.get("/", {"q": "script"}).context["next_cursor"]
    with django_assert_max_num_queries(4):
        page = client.get("/sessions/", {"q": "script", "after": cursor}).json()
    assert "<mark>script</mark>-" in page["html"]


def test_a_sidebar_item_renders_without_a_search(user):
    """As the WebSocket renders a new conversation's item for the other tabs."""
    session = ChatSessionFactory(user=user, title="Fresh <b>chat</b>")
    html = render_to_string("conversations/_session_items.html", {"sessions": [session]})
    assert "Fresh &lt;b&gt;chat&lt;/b&gt;" in html and "session-snippet" not in html


def test_open_conversation_shows_its_messages(client_for, user):
    session = conversation(user, turns=2, title="My chat")
    response = client_for(user).get(f"/c/{session.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "question 1" in html and "answer 1" in html
    assert 'aria-current="page"' in html
    assert html.count("question 1") == 1 and "user #1" not in html


def test_the_page_names_the_conversations_model_and_each_replys(client_for, user):
    """Labels, not ids; a model the page has no label for shows its id."""
    provider = Provider.objects.create(name="local", base_url="http://127.0.0.1:9/v1")
    Model.objects.create(id="small", label="Small & quick", provider=provider, is_default=True)
    Model.objects.create(id="big", label="Big", provider=provider)
    session = ChatSessionFactory(user=user, model="big", instructions="Be <brief>.")
    MessageFactory(session=session, content="Hi")
    MessageFactory(session=session, role=Message.Role.ASSISTANT, content="One", model="small")
    MessageFactory(session=session, role=Message.Role.ASSISTANT, content="Two", model="gone")
    html = client_for(user).get(f"/c/{session.pk}/").content.decode()
    header = re.search(r'id="conversation-model"[^>]*>(.*?)</p>', html).group(1)
    assert 'class="model-name">Big</span>' in header
    names = re.findall(
        r'class="reply-model" data-model="(\w+)">.*?class="model-name">(.*?)</span>', html
    )
    assert names == [("small", "Small &amp; quick"), ("gone", "gone")]
    assert ">Be &lt;brief&gt;.</textarea>" in html
    labels = json.loads(re.search(r'id="model-labels"[^>]*>(.*?)</script>', html).group(1))
    assert labels == {"small": "Small & quick", "big": "Big"}


def test_a_new_chat_has_no_instructions_button_to_use_yet(client_for, user):
    html = client_for(user).get("/").content.decode()
    assert re.search(r'<button[^>]*id="edit-instructions"[^>]*hidden', html)
    assert re.search(r'id="conversation-model"[^>]*hidden', html)


def test_another_users_conversation_is_a_404_like_a_missing_one(client_for, user, other_user):
    session = conversation(other_user, turns=1, title="Private")
    client = client_for(user)
    assert client.get(f"/c/{session.pk}/").status_code == 404
    assert client.get("/c/00000000-0000-4000-8000-000000000000/").status_code == 404
    assert client.get(f"/c/{session.pk}/messages?before=5").status_code == 404
    assert client.post(f"/c/{session.pk}/rename/", {"title": "Mine now"}).status_code == 404
    assert client.post(f"/c/{session.pk}/delete/").status_code == 404
    session.refresh_from_db()
    assert session.title == "Private"


def test_hidden_messages_show_a_notice_never_their_text(client_for, user):
    session = ChatSessionFactory(user=user)
    MessageFactory(session=session, content="something awful", hidden=True)
    html = client_for(user).get(f"/c/{session.pk}/").content.decode()
    assert "This message was removed by a moderator." in html
    assert "something awful" not in html


def test_replies_are_rendered_sanitized_in_the_history(client_for, user):
    session = ChatSessionFactory(user=user)
    MessageFactory(
        session=session,
        role="assistant",
        content="**hi** <script>alert(1)</script> [x](javascript:alert(1))",
    )
    MessageFactory(session=session, content="<b>my own text</b>")
    html = client_for(user).get(f"/c/{session.pk}/").content.decode()
    assert "<strong>hi</strong>" in html
    assert "<script>alert(1)" not in html and 'href="javascript:' not in html
    assert "&lt;script&gt;alert(1)" in html
    assert "&lt;b&gt;my own text&lt;/b&gt;" in html


def test_long_conversations_open_with_the_latest_messages_and_load_older_by_sequence(
    client_for, user, django_assert_max_num_queries
):
    session = ChatSessionFactory(user=user)
    services.store_as_branch(
        session=session,
        messages=[
            Message(session=session, sequence=n, role="user", content=f"msg-{n:03d}.")
            for n in range(1, 121)
        ],
    )
    client = client_for(user)
    html = client.get(f"/c/{session.pk}/").content.decode()
    assert "msg-120." in html and "msg-071." in html and "msg-070." not in html
    assert 'data-before="71"' in html

    # The page's messages and, in one more query, their siblings (the branch switchers).
    with django_assert_max_num_queries(5):
        page = client.get(f"/c/{session.pk}/messages?before=71").json()
    assert page["hasMore"] is True and page["before"] == 21
    assert "msg-070." in page["html"] and "msg-021." in page["html"]
    assert "msg-020." not in page["html"] and "msg-071." not in page["html"]
    last = client.get(f"/c/{session.pk}/messages?before=21").json()
    assert last["hasMore"] is False and "msg-001." in last["html"]

    bad = client.get(f"/c/{session.pk}/messages?before=soon")
    assert bad.status_code == 400 and "before" in bad.json()["detail"]


def _attach(message, *names):
    for position, name in enumerate(names):
        stored = StoredFile.objects.create(
            owner=message.session.user,
            name=name,
            size=1200,
            content_type="text/plain",
            kind="document",
            sha256="0" * 64,
            key=f"{uuid.uuid4()}.txt",
        )
        MessageAttachment.objects.create(message=message, file=stored, position=position)


def test_bubbles_list_their_files_with_one_query_per_page(client_for, user):
    def page_queries(session) -> tuple[str, int]:
        with CaptureQueriesContext(connection) as captured:
            html = client_for(user).get(f"/c/{session.pk}/").content.decode()
        return html, len(captured)

    one = ChatSessionFactory(user=user)
    _attach(MessageFactory(session=one, content="one file"), "a.txt")
    many = ChatSessionFactory(user=user)
    for n in range(6):
        _attach(MessageFactory(session=many, content=f"files {n}"), f"x{n}.txt", f"y{n}.txt")
    hidden = MessageFactory(session=many, content="hidden", hidden=True)
    _attach(hidden, "secret.txt")
    one_html, one_count = page_queries(one)
    many_html, many_count = page_queries(many)
    assert 'download="a.txt"' in one_html and 'download="y5.txt"' in many_html
    assert many_html.count('attachment-document" data-file-id=') == 12
    assert "secret.txt" not in many_html
    assert many_count == one_count


def test_sidebar_is_capped_and_pages_with_constant_queries(
    client_for, user, django_assert_max_num_queries
):
    ChatSession.objects.bulk_create(
        ChatSession(user=user, title=f"chat-{n:03d}.") for n in range(130)
    )
    client = client_for(user)
    response = client.get("/")
    html = response.content.decode()
    assert html.count('class="session-item"') == 50
    cursor = response.context["next_cursor"]
    seen = 50
    while cursor:
        with django_assert_max_num_queries(4):
            page = client.get("/sessions/", {"after": cursor}).json()
        seen += page["html"].count('class="session-item"')
        cursor = page["next"]
    assert seen == 130
    bad = client.get("/sessions/", {"after": "yesterday"})
    assert bad.status_code == 400 and bad.json()["detail"] == "The list position is not valid."


def test_rename_through_the_form(client_for, user):
    session = ChatSessionFactory(user=user, title="Old")
    client = client_for(user)
    assert client.get(f"/c/{session.pk}/rename/").status_code == 200
    response = client.post(f"/c/{session.pk}/rename/", {"title": "  Trip planning  "})
    assert response.status_code == 302 and response["Location"] == f"/c/{session.pk}/"
    session.refresh_from_db()
    assert session.title == "Trip planning"


def test_rename_with_a_bad_title_explains_why(client_for, user):
    session = ChatSessionFactory(user=user, title="Old")
    client = client_for(user)
    response = client.post(f"/c/{session.pk}/rename/", {"title": "   "})
    assert response.status_code == 400
    assert "The title cannot be empty." in response.content.decode()
    response = client.post(f"/c/{session.pk}/rename/", {"title": "x" * 256})
    assert response.status_code == 400
    session.refresh_from_db()
    assert session.title == "Old"


def test_delete_asks_first_then_deletes(client_for, user):
    session = conversation(user, turns=1)
    client = client_for(user)
    confirm = client.get(f"/c/{session.pk}/delete/")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.content.decode()
    assert ChatSession.objects.filter(pk=session.pk).exists()
    response = client.post(f"/c/{session.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert not ChatSession.objects.filter(pk=session.pk).exists()
    assert not Message.objects.filter(session_id=session.pk).exists()


def test_form_posts_need_a_csrf_token(user):
    session = ChatSessionFactory(user=user, title="Keep")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(f"/c/{session.pk}/rename/", {"title": "Hijacked"}).status_code == 403
    assert client.post(f"/c/{session.pk}/delete/").status_code == 403
    assert client.post("/settings/tokens/").status_code == 403
    assert client.post("/settings/delete/", {"password": PASSWORD}).status_code == 403
    assert ChatSession.objects.filter(pk=session.pk, title="Keep").exists()
    assert User.objects.filter(pk=user.pk).exists()


def test_csp_allows_no_inline_script_and_pages_have_none(client_for, user):
    session = conversation(user, turns=1)
    response = client_for(user).get(f"/c/{session.pk}/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    html = response.content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    # Files of our own origin, or data (the sanitizer's allow-lists): nothing inline runs.
    for attrs, body in scripts:
        if 'type="application/json"' not in attrs:
            assert ' src="/static/' in attrs and not body.strip(), attrs
    assert any('type="module"' in attrs for attrs, _body in scripts)
    assert " onclick=" not in html and " style=" not in html


def test_demo_banner_shows_without_a_model(client_for, user):
    html = client_for(user).get("/").content.decode()
    assert "Demo mode" in html


def test_no_demo_banner_with_a_model(client_for, user, settings):
    settings.OPENAI_API_KEY = "sk-configured"
    assert "Demo mode" not in client_for(user).get("/").content.decode()


def test_suspended_user_sees_a_banner_and_a_disabled_composer(client_for, user):
    user.chat_suspended = True
    user.save()
    html = client_for(user).get("/").content.decode()
    assert "Your chat access is suspended." in html
    assert 'data-suspended="true"' in html
    assert "disabled></textarea>" in html


# --- Account settings -------------------------------------------------------------------


def test_custom_instructions_are_saved(client_for, user):
    client = client_for(user)
    response = client.post("/settings/", {"custom_instructions": "Answer like a pirate."})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.custom_instructions == "Answer like a pirate."
    assert "Answer like a pirate." in client.get("/settings/").content.decode()


def test_too_long_instructions_are_refused(client_for, user):
    response = client_for(user).post("/settings/", {"custom_instructions": "x" * 4001})
    assert response.status_code == 400
    assert "at most 4000 characters" in response.content.decode()


def test_token_is_shown_once_then_listed_and_revocable(client_for, user):
    client = client_for(user)
    response = client.post("/settings/tokens/")
    assert response.status_code == 200
    token = response.context["new_token"]
    assert token.startswith("cb_") and token in response.content.decode()
    listing = client.get("/settings/").content.decode()
    assert token not in listing
    record = AuthToken.objects.get(user=user)
    assert record.token_key in listing

    assert TokenAuthentication().authenticate_credentials(token.encode())[0] == user

    response = client.post(f"/settings/tokens/{record.token_key}/revoke/")
    assert response.status_code == 302
    assert not AuthToken.objects.filter(user=user).exists()
    with pytest.raises(AuthenticationFailed):
        TokenAuthentication().authenticate_credentials(token.encode())


def test_cannot_revoke_another_users_token(client_for, user, other_user):
    issued = issue_token(user=other_user)
    response = client_for(user).post(f"/settings/tokens/{issued.record.token_key}/revoke/")
    assert response.status_code == 404
    assert AuthToken.objects.filter(user=other_user).count() == 1


def test_export_downloads_all_my_conversations_as_json(client_for, user, other_user):
    conversation(user, turns=2, title="Mine")
    conversation(other_user, turns=1, title="Not mine")
    response = client_for(user).get("/settings/export/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith('attachment; filename="chatbot-export-')
    data = json.loads(response.content)
    assert [c["title"] for c in data["conversations"]] == ["Mine"]
    assert len(data["conversations"][0]["messages"]) == 4


def test_delete_account_needs_the_password(client_for, user):
    conversation(user, turns=1)
    response = client_for(user).post("/settings/delete/", {"password": "wrong"})
    assert response.status_code == 400
    assert "That is not your password." in response.content.decode()
    assert User.objects.filter(pk=user.pk).exists()


def test_delete_account_removes_it_and_all_conversations(client_for, user, other_user):
    mine = conversation(user, turns=2)
    theirs = conversation(other_user, turns=1)
    client = client_for(user)
    response = client.post("/settings/delete/", {"password": PASSWORD})
    assert response.status_code == 302
    assert not User.objects.filter(pk=user.pk).exists()
    assert not ChatSession.objects.filter(pk=mine.pk).exists()
    assert not Message.objects.filter(session_id=mine.pk).exists()
    assert ChatSession.objects.filter(pk=theirs.pk).exists()
    assert client.get("/").status_code == 302


def test_auth_pages_use_our_layout(client):
    for url in ("/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"):
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        assert "/static/css/app.css" in html and 'class="page page-auth"' in html
        assert "csrfmiddlewaretoken" in html
