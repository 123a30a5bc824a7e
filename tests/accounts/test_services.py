"""Account services: the data export (every field, hidden text left out, nobody else's
data), custom instructions at their length limit, and API token lifetimes."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from knox.models import AuthToken

from accounts import services
from conversations.models import Message
from core.errors import InvalidInput
from tests.factories import ChatSessionFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


@pytest.fixture
def frozen_now(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    return NOW


def at(minutes: int) -> datetime:
    return NOW - timedelta(minutes=minutes)


def test_export_has_every_field_and_leaves_hidden_text_out(bystanders, frozen_now):
    user = UserFactory(username="ada", email="ada@example.com")
    newer = ChatSessionFactory(user=user, title="Newer", created_at=at(10), updated_at=at(1))
    older = ChatSessionFactory(user=user, title="", created_at=at(20), updated_at=at(15))
    empty = ChatSessionFactory(user=user, title="Empty", created_at=at(5), updated_at=at(5))
    question = MessageFactory(session=older, role="user", content="Q one", created_at=at(19))
    hidden = MessageFactory(
        session=older, role="assistant", content="rude", hidden=True, created_at=at(18)
    )
    failed = MessageFactory(
        session=newer,
        role="assistant",
        content="half",
        status="failed",
        sequence=2,
        created_at=at(9),
    )
    # Created out of sequence order: the export follows the sequence.
    first = MessageFactory(session=newer, role="user", content="Q two", sequence=1, parent=None)
    Message.objects.filter(pk=failed.pk).update(parent=first)

    def message(m, content, parent, hidden_flag=False):
        return {
            "messageId": str(m.pk),
            "parentId": parent and str(parent.pk),
            "role": m.role,
            "content": content,
            "status": m.status,
            "hidden": hidden_flag,
            "createdAt": m.created_at.isoformat(),
            "attachments": [],
        }

    assert services.export_user_data(user) == {
        "user": {"username": "ada", "email": "ada@example.com"},
        "exportedAt": "2026-03-04T05:06:07.891011+00:00",
        "conversations": [
            {
                "sessionId": str(older.pk),
                "title": "",
                "createdAt": at(20).isoformat(),
                "updatedAt": at(15).isoformat(),
                "messages": [
                    message(question, "Q one", None),
                    message(hidden, "", question, hidden_flag=True),
                ],
            },
            {
                "sessionId": str(newer.pk),
                "title": "Newer",
                "createdAt": at(10).isoformat(),
                "updatedAt": at(1).isoformat(),
                "messages": [message(first, "Q two", None), message(failed, "half", first)],
            },
            {
                "sessionId": str(empty.pk),
                "title": "Empty",
                "createdAt": at(5).isoformat(),
                "updatedAt": at(5).isoformat(),
                "messages": [],
            },
        ],
    }


def test_export_of_another_user_holds_only_their_data_without_hidden_text(bystanders):
    mine = UserFactory()
    ChatSessionFactory(user=mine, title="Mine")
    exported = services.export_user_data(bystanders.user)
    assert exported["user"] == {
        "username": bystanders.user.username,
        "email": bystanders.user.email,
    }
    [conversation] = exported["conversations"]
    assert conversation["sessionId"] == str(bystanders.session.pk)
    assert [(m["content"], m["status"], m["hidden"]) for m in conversation["messages"]] == [
        ("bystander question about holiday plans", "complete", False),
        ("bystander answer about holiday plans", "complete", False),
        ("", "complete", True),
        ("bystander half holiday reply", "streaming", False),
    ]
    assert "hidden holiday" not in str(exported)


def test_a_user_without_conversations_exports_an_empty_list(bystanders):
    user = UserFactory()
    assert services.export_user_data(user)["conversations"] == []


def test_custom_instructions_up_to_the_limit_are_kept_stripped():
    user = UserFactory()
    services.set_custom_instructions(user=user, text="  " + "x" * 4000 + "\n")
    user.refresh_from_db()
    assert user.custom_instructions == "x" * 4000
    services.set_custom_instructions(user=user, text="   ")
    user.refresh_from_db()
    assert user.custom_instructions == ""


def test_custom_instructions_over_the_limit_are_refused_and_nothing_changes():
    user = UserFactory(custom_instructions="Keep me.")
    with pytest.raises(InvalidInput) as refused:
        services.set_custom_instructions(user=user, text="x" * 4001)
    assert refused.value.field == "custom_instructions"
    assert str(refused.value) == "Custom instructions can be at most 4000 characters."
    user.refresh_from_db()
    assert user.custom_instructions == "Keep me."


def test_a_token_lives_exactly_thirty_days(frozen_now):
    issued = services.issue_token(user=UserFactory())
    record = AuthToken.objects.get(pk=issued.record.pk)
    assert record.created == NOW
    assert record.expiry == NOW + timedelta(days=30)
    assert issued.token.startswith(record.token_key)


def _expire(*tokens: AuthToken) -> None:
    AuthToken.objects.filter(pk__in=[token.pk for token in tokens]).update(
        expiry=timezone.now() - timedelta(seconds=1)
    )


def test_listing_tokens_skips_expired_ones_and_deletes_nothing(django_assert_num_queries):
    user = UserFactory()
    expired = services.issue_token(user=user).record
    live = services.issue_token(user=user).record
    _expire(expired)
    # One SELECT, no DELETE: a read never writes.
    with django_assert_num_queries(1) as queries:
        assert list(services.tokens_for_user(user)) == [live]
    assert queries.captured_queries[0]["sql"].lstrip().upper().startswith("SELECT")
    assert AuthToken.objects.filter(pk=expired.pk).exists()


def test_issuing_a_token_deletes_only_the_users_expired_ones():
    user, other = UserFactory(), UserFactory()
    expired = services.issue_token(user=user).record
    live = services.issue_token(user=user).record
    others_expired = services.issue_token(user=other).record
    _expire(expired, others_expired)
    newest = services.issue_token(user=user).record
    assert not AuthToken.objects.filter(pk=expired.pk).exists()
    assert AuthToken.objects.filter(pk=others_expired.pk).exists()
    assert list(services.tokens_for_user(user)) == [newest, live]


def test_the_sweep_command_deletes_every_users_expired_tokens_and_no_live_one():
    user, other = UserFactory(), UserFactory()
    expired, live = services.issue_token(user=user).record, services.issue_token(user=user).record
    others_expired = services.issue_token(user=other).record
    _expire(expired, others_expired)
    output = io.StringIO()
    call_command("delete_expired_tokens", stdout=output)
    assert set(AuthToken.objects.values_list("pk", flat=True)) == {live.pk}
    assert output.getvalue().strip() == "Deleted 2 expired API token(s)."


def test_a_token_is_revoked_only_by_its_owner():
    user, other = UserFactory(), UserFactory()
    record = services.issue_token(user=user).record
    assert not services.revoke_token(user=other, token_key=record.token_key)
    assert services.revoke_token(user=user, token_key=record.token_key)
    assert not services.revoke_token(user=user, token_key=record.token_key)
    assert not AuthToken.objects.filter(pk=record.pk).exists()
