"""Every shape the app sends, from its one constructor (issue 23): each field stated, hidden
text never in an owner's payload (a moderator's export keeps it), request ids cut to 100
characters, and what is left out when absent."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from attachments.models import MessageAttachment, StoredFile
from conversations import payloads
from conversations.errors import QuotaExceeded, RateLimited, SessionNotFound
from conversations.models import Message
from core.errors import InvalidInput
from sharing.models import MessageFeedback
from tests.factories import MessageFactory, UserFactory, conversation

pytestmark = pytest.mark.django_db

SESSION_ID = uuid.UUID("5f0c6e0e-0000-4000-8000-000000000001")


def turn(*, hidden: bool = False):
    """A question with a file and its reply, the reply with usage figures."""
    session = conversation(UserFactory(), turns=0)
    question = MessageFactory(session=session, role="user", content="what <b>is</b> it?")
    stored = StoredFile.objects.create(
        owner=session.user,
        name="notes.txt",
        size=1200,
        content_type="text/plain",
        kind="document",
        sha256="0" * 64,
        key=f"key-{question.pk}",
    )
    MessageAttachment.objects.create(message=question, file=stored, position=0)
    reply = MessageFactory(
        session=session,
        role="assistant",
        content="an answer",
        model="m-1",
        prompt_tokens=10,
        completion_tokens=4,
        cached_tokens=2,
        first_token_ms=150,
        total_ms=800,
    )
    if hidden:
        Message.objects.filter(pk__in=[question.pk, reply.pk]).update(hidden=True)
    return (
        Message.objects.get(pk=question.pk),
        Message.objects.get(pk=reply.pk),
        stored,
    )


def file_payload(stored: StoredFile) -> dict:
    return {
        "fileId": str(stored.pk),
        "name": "notes.txt",
        "size": 1200,
        "contentType": "text/plain",
        "kind": "document",
    }


def test_a_reply_usage_states_every_figure():
    _, reply, _ = turn()

    assert payloads.reply_usage(reply) == {
        "model": "m-1",
        "promptTokens": 10,
        "completionTokens": 4,
        "cachedTokens": 2,
        "firstTokenMs": 150,
        "totalMs": 800,
    }


def test_feedback_is_the_owners_rating_of_a_reply_only():
    question, reply, _ = turn()
    question.my_rating, question.my_comment = "up", "no"
    reply.my_rating, reply.my_comment = "down", None

    assert payloads.reply_feedback(reply) == {"rating": "down", "comment": ""}
    assert payloads.reply_feedback(question) is None
    reply.my_comment = "too long"
    assert payloads.reply_feedback(reply) == {"rating": "down", "comment": "too long"}
    reply.my_rating = None
    assert payloads.reply_feedback(reply) is None
    assert payloads.reply_feedback(Message.objects.get(pk=reply.pk)) is None


def test_files_are_read_when_not_read_before_and_hidden_with_their_message(
    django_assert_num_queries,
):
    question, _, stored = turn()
    hidden_question, _, hidden_file = turn(hidden=True)

    assert payloads.attachments_of(question) == [file_payload(stored)]
    with django_assert_num_queries(0):
        assert payloads.attachments_of(question) == [file_payload(stored)]
        assert payloads.attachments_of(hidden_question) == []
    assert payloads.attachments_of(hidden_question, moderator=True) == [file_payload(hidden_file)]


def test_the_message_payload_states_every_field():
    question, reply, stored = turn()
    MessageFeedback.objects.create(message=reply, user=reply.session.user, rating="up")
    sibling = MessageFactory(
        session=reply.session, role="assistant", parent=question, make_current=False
    )

    sent = payloads.message_payload(question)
    answered = payloads.message_payload(reply)

    assert sent == {
        "messageId": str(question.pk),
        "sessionId": str(question.session_id),
        "parentId": None,
        "siblingIds": [str(question.pk)],
        "role": "user",
        "content": "what <b>is</b> it?",
        "status": "complete",
        "hidden": False,
        "createdAt": question.created_at.isoformat(),
        "attachments": [file_payload(stored)],
        "feedback": None,
    }
    assert answered["parentId"] == str(question.pk)
    assert answered["siblingIds"] == [str(reply.pk), str(sibling.pk)]
    assert answered["feedback"] == {"rating": "up", "comment": ""}
    assert (answered["role"], answered["content"], answered["attachments"]) == (
        "assistant",
        "an answer",
        [],
    )


def test_siblings_and_files_read_for_a_page_are_used_as_read(django_assert_num_queries):
    question, _, _ = turn()
    question.sibling_ids, question.attached_files = ["read with the page"], []

    with django_assert_num_queries(0):
        payload = payloads.message_payload(question)

    assert (payload["siblingIds"], payload["attachments"]) == (["read with the page"], [])


def test_a_hidden_messages_payload_has_no_text_and_no_files():
    question, reply, _ = turn(hidden=True)

    for message in (question, reply):
        payload = payloads.message_payload(message)
        assert (payload["content"], payload["hidden"], payload["attachments"]) == ("", True, [])
    assert payloads.sse_done(reply)["message"] == ""
    assert payloads.exported_message(question)["content"] == ""


def test_a_reply_whose_writer_died_reads_failed():
    _, reply, _ = turn()
    Message.objects.filter(pk=reply.pk).update(
        status="streaming", updated_at=timezone.now() - timedelta(days=1)
    )
    reply = Message.objects.get(pk=reply.pk)

    assert payloads.message_payload(reply)["status"] == "failed"
    assert payloads.sse_done(reply)["status"] == "failed"
    assert payloads.exported_message(reply)["status"] == "streaming"
    assert payloads.moderated_message(reply)["status"] == "streaming"


@pytest.mark.parametrize(
    ("text", "query", "snippet"),
    [
        ("Cats & dogs", "", "Cats &amp; dogs"),
        ("Cats & dogs", "   ", "Cats &amp; dogs"),
        ("Cats & cats", "cat", "<mark>Cat</mark>s &amp; <mark>cat</mark>s"),
        ("Cats & cats", " CAT ", "<mark>Cat</mark>s &amp; <mark>cat</mark>s"),
        ("<b>a.b</b> axb", "a.b", "&lt;b&gt;<mark>a.b</mark>&lt;/b&gt; axb"),
        ("x<y", "<", "x<mark>&lt;</mark>y"),
        ("nothing here", "zebra", "nothing here"),
    ],
)
def test_a_search_snippet_marks_every_match_and_escapes_the_rest(text, query, snippet):
    assert payloads.search_snippet(text=text, query=query) == snippet


def test_the_owners_export_copies_the_stored_row():
    question, reply, _ = turn()

    assert payloads.exported_message(reply) == {
        "messageId": str(reply.pk),
        "parentId": str(question.pk),
        "role": "assistant",
        "content": "an answer",
        "status": "complete",
        "hidden": False,
        "createdAt": reply.created_at.isoformat(),
    }
    assert payloads.exported_message(question)["parentId"] is None


def test_the_moderators_export_keeps_hidden_text_and_files():
    question, reply, stored = turn(hidden=True)
    Message.objects.filter(pk=reply.pk).update(
        flagged=True, flag_categories=["violence"], moderation_failed=True
    )
    reply = Message.objects.get(pk=reply.pk)

    assert payloads.moderated_message(question)["attachments"] == [file_payload(stored)]
    assert payloads.moderated_message(question)["parentId"] is None
    assert payloads.moderated_message(reply) == {
        "messageId": str(reply.pk),
        "parentId": str(question.pk),
        "sequence": 2,
        "role": "assistant",
        "content": "an answer",
        "status": "complete",
        "model": "m-1",
        "flagged": True,
        "flagCategories": ["violence"],
        "moderationFailed": True,
        "hidden": True,
        "createdAt": reply.created_at.isoformat(),
        "attachments": [],
    }


@pytest.mark.parametrize(
    ("request_id", "sent"),
    [("r-1", "r-1"), ("x" * 150, "x" * 100), (None, None), (12, None)],
)
def test_a_turn_event_states_every_field_and_cuts_the_request_id(request_id, sent):
    question, reply = {"messageId": "q"}, {"messageId": "a"}

    event = payloads.turn_event(
        session_id=SESSION_ID,
        created=True,
        regenerated=False,
        request_id=request_id,
        user_message=question,
        reply=reply,
        session_html="<li>",
    )

    assert event == {
        "type": "chat.turn",
        "sessionId": "5f0c6e0e-0000-4000-8000-000000000001",
        "created": True,
        "regenerated": False,
        "requestId": sent,
        "userMessage": question,
        "reply": reply,
        "sessionHtml": "<li>",
    }


def test_the_group_events_state_every_field():
    session_id = SESSION_ID
    assert payloads.delta_event(
        session_id=session_id, message_id=session_id, content="more", offset=7
    ) == {
        "type": "chat.delta",
        "sessionId": str(session_id),
        "messageId": str(session_id),
        "content": "more",
        "offset": 7,
    }
    assert payloads.title_event(session_id=session_id, title="Trip") == {
        "type": "chat.title",
        "sessionId": str(session_id),
        "title": "Trip",
    }
    assert payloads.branch_event(session_id=session_id, current_message_id=session_id) == {
        "type": "chat.branch",
        "sessionId": str(session_id),
        "currentMessageId": str(session_id),
    }
    assert payloads.session_deleted_event(session_id=session_id) == {
        "type": "chat.session_deleted",
        "sessionId": str(session_id),
    }


def test_a_reply_event_carries_the_payload_its_usage_and_why_it_failed():
    _, reply, _ = turn()

    done = payloads.reply_event(reply)
    failed = payloads.reply_event(reply, error=RateLimited(5))

    assert done == {
        "type": "chat.reply",
        "message": {
            **payloads.message_payload(reply),
            "usage": payloads.reply_usage(reply),
        },
    }
    assert "error" not in done["message"]
    assert failed["message"]["error"] == (
        "You are sending messages too quickly. Try again in 5 seconds."
    )


def test_an_error_event_has_the_wait_and_request_id_only_when_there_are_some():
    assert payloads.error_event(SessionNotFound()) == {
        "type": "error",
        "detail": "Conversation not found.",
        "code": "not_found",
    }
    assert payloads.error_event(QuotaExceeded(30), request_id="y" * 120) == {
        "type": "error",
        "detail": "You have used today's token allowance. It resets at midnight UTC.",
        "code": "quota_exceeded",
        "retryAfter": 30,
        "requestId": "y" * 100,
    }
    assert "requestId" not in payloads.error_event(SessionNotFound(), request_id=5)


def test_the_sse_events_state_every_field():
    _, reply, _ = turn()

    assert payloads.sse_session(session_id=reply.session_id, user_message_id=reply.pk) == {
        "sessionId": str(reply.session_id),
        "userMessageId": str(reply.pk),
    }
    assert payloads.sse_delta("tok") == {"content": "tok"}
    assert payloads.sse_done(reply) == {
        "message": "an answer",
        "sessionId": str(reply.session_id),
        "messageId": str(reply.pk),
        "status": "complete",
    }


def test_an_error_payload_names_its_field_and_ids_only_when_given():
    assert payloads.error_payload(SessionNotFound()) == {
        "detail": "Conversation not found.",
        "code": "not_found",
    }
    assert payloads.error_payload(
        InvalidInput("Too long.", field="message"), messageId="m", sessionId="s"
    ) == {
        "detail": "Too long.",
        "code": "invalid",
        "field": "message",
        "messageId": "m",
        "sessionId": "s",
    }


def test_the_page_constants_name_every_status_and_close_code():
    assert payloads.page_constants() == {
        "status-complete": "complete",
        "status-streaming": "streaming",
        "status-failed": "failed",
        "status-cancelled": "cancelled",
        "close-signed-out": "4401",
        "close-access-ended": "4403",
    }
