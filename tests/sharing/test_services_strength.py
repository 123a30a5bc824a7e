"""sharing/services.py and sharing/selectors.py called directly, the cases mutation testing
found unchecked: every field a snapshot and a copy take (and from which message), each
refusal's sentence and field, the comment's edges (2000 and 2001 characters), and with a
second conversation and a second user present, what must not be touched or read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from attachments.models import MessageAttachment, StoredFile
from conversations.errors import MessageNotFound, SessionNotFound
from conversations.models import ChatSession, Message
from core.errors import InvalidInput
from sharing import selectors, services
from sharing.errors import ShareNotFound
from sharing.models import MessageFeedback, SharedConversation, SharedMessage
from tests.factories import MessageFactory, conversation

pytestmark = pytest.mark.django_db

LONG_AGO = timezone.now() - timedelta(days=3)


def snapshot_rows(share) -> list[tuple]:
    return list(
        SharedMessage.objects.filter(share=share)
        .order_by("position")
        .values_list("position", "message_id", "role", "content", "token_count", "model")
    )


def mixed_conversation(user) -> tuple[ChatSession, list[Message]]:
    """A conversation whose current branch holds one message of each kind a copy leaves
    out (hidden, system, streaming, failed, empty), between three that it keeps."""
    session = conversation(user, turns=0, title="Mixed", model="model-a")
    kept = [
        MessageFactory(
            session=session,
            role="user",
            content="first question",
            token_count=7,
            created_at=LONG_AGO,
        )
    ]
    MessageFactory(session=session, role="system", content="system words")
    MessageFactory(session=session, role="user", content="hidden words", hidden=True)
    kept.append(
        MessageFactory(
            session=session,
            role="assistant",
            content="stopped answer",
            status=Message.Status.CANCELLED,
            token_count=11,
            model="model-b",
            created_at=LONG_AGO + timedelta(seconds=1),
        )
    )
    MessageFactory(session=session, role="assistant", content="", model="model-b")
    MessageFactory(
        session=session, role="assistant", content="failed words", status=Message.Status.FAILED
    )
    kept.append(MessageFactory(session=session, role="user", content="last question"))
    MessageFactory(
        session=session,
        role="assistant",
        content="streaming words",
        status=Message.Status.STREAMING,
    )
    session.refresh_from_db()
    return session, kept


def test_a_share_token_is_32_url_safe_characters_and_new_each_time():
    tokens = {services.new_share_token() for _ in range(20)}
    assert len(tokens) == 20
    for token in tokens:
        assert len(token) == 32
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_a_snapshot_copies_each_kept_message_of_the_current_branch_field_by_field(user, bystanders):
    session, kept = mixed_conversation(user)
    other = conversation(user, turns=1, title="Other chat")
    off_branch = MessageFactory(
        session=session, role="user", content="other branch", parent=None, make_current=False
    )

    share = services.share_session(user=user, session_id=str(session.pk))

    share.refresh_from_db()
    assert (share.session_id, share.title, share.model) == (session.pk, "Mixed", "model-a")
    assert share.created_at == share.updated_at
    assert abs(share.updated_at - timezone.now()) < timedelta(minutes=1)
    assert snapshot_rows(share) == [
        (1, kept[0].pk, "user", "first question", 7, ""),
        (2, kept[1].pk, "assistant", "stopped answer", 11, "model-b"),
        (3, kept[2].pk, "user", "last question", kept[2].token_count, ""),
    ]
    times = list(share.messages.order_by("position").values_list("created_at", flat=True))
    assert times == [m.created_at for m in kept]
    assert off_branch.pk not in [row[1] for row in snapshot_rows(share)]
    assert not SharedConversation.objects.filter(session=other).exists()
    assert bystanders.unchanged()


def test_sharing_again_keeps_token_and_creation_replaces_messages_and_title(user):
    session, kept = mixed_conversation(user)
    first = services.share_session(user=user, session_id=session.pk)
    created, token = first.created_at, first.token
    ChatSession.objects.filter(pk=session.pk).update(title="Renamed", model="model-c")
    later = MessageFactory(session=session, role="assistant", content="later answer")

    again = services.share_session(user=user, session_id=session.pk)

    again.refresh_from_db()
    assert (again.pk, again.token, again.created_at) == (first.pk, token, created)
    assert (again.title, again.model) == ("Renamed", "model-c")
    assert again.updated_at > created
    assert [row[:2] for row in snapshot_rows(again)] == [
        (1, kept[0].pk),
        (2, kept[1].pk),
        (3, kept[2].pk),
        (4, later.pk),
    ]
    assert SharedMessage.objects.count() == 4


def test_another_users_conversation_cannot_be_shared_or_unshared(user, other_user):
    session, _ = mixed_conversation(user)
    share = services.share_session(user=user, session_id=session.pk)

    with pytest.raises(SessionNotFound):
        services.share_session(user=other_user, session_id=session.pk)
    with pytest.raises(SessionNotFound):
        services.unshare_session(user=other_user, session_id=session.pk)

    assert SharedConversation.objects.get().pk == share.pk
    assert len(snapshot_rows(share)) == 3


def test_unsharing_deletes_only_that_conversations_link(user):
    session, _ = mixed_conversation(user)
    other = conversation(user, turns=1, title="Other")
    services.share_session(user=user, session_id=session.pk)
    kept = services.share_session(user=user, session_id=other.pk)

    services.unshare_session(user=user, session_id=session.pk)

    assert list(SharedConversation.objects.values_list("pk", flat=True)) == [kept.pk]
    assert SharedMessage.objects.filter(share=kept).count() == 2


def test_revoking_shares_deletes_them_and_their_messages_and_counts_both(user, other_user):
    session, _ = mixed_conversation(user)
    mine = services.share_session(user=user, session_id=session.pk)
    theirs = services.share_session(
        user=other_user, session_id=conversation(other_user, turns=1).pk
    )

    assert services.revoke_shares([mine]) == 4  # the link and its three messages
    assert list(SharedConversation.objects.values_list("pk", flat=True)) == [theirs.pk]
    assert services.revoke_shares([]) == 0


def test_forgetting_hidden_messages_takes_only_them_out_of_every_snapshot(user, other_user):
    session, kept = mixed_conversation(user)
    share = services.share_session(user=user, session_id=session.pk)
    other = conversation(other_user, turns=1)
    other_share = services.share_session(user=other_user, session_id=other.pk)

    services.forget_hidden_messages([kept[1]])

    assert [row[1] for row in snapshot_rows(share)] == [kept[0].pk, kept[2].pk]
    assert len(snapshot_rows(other_share)) == 2


def test_continuing_copies_the_snapshot_as_one_branch_of_the_viewers_own(user, other_user):
    session, kept = mixed_conversation(user)
    share = services.share_session(user=user, session_id=session.pk)
    # The snapshot, not the conversation, is copied: later changes do not show.
    Message.objects.filter(pk=kept[0].pk).update(content="edited later")
    before = timezone.now()

    copy = services.continue_shared(user=other_user, token=share.token)

    copy.refresh_from_db()
    assert (copy.user, copy.title, copy.model) == (other_user, "Mixed", "model-a")
    assert copy.created_at == copy.updated_at and copy.created_at >= before
    messages = list(copy.messages.order_by("sequence"))
    assert [
        (m.sequence, m.role, m.content, m.token_count, m.model, m.status) for m in messages
    ] == [
        (1, "user", "first question", 7, "", "complete"),
        (2, "assistant", "stopped answer", 11, "model-b", "complete"),
        (3, "user", "last question", kept[2].token_count, "", "complete"),
    ]
    assert [m.parent_id for m in messages] == [None, messages[0].pk, messages[1].pk]
    assert all(m.created_at == m.updated_at == copy.created_at for m in messages)
    assert copy.current_message_id == messages[2].pk
    assert ChatSession.objects.filter(user=user).count() == 1
    assert session.messages.count() == 8


def test_continuing_an_unknown_token_is_share_not_found_and_creates_nothing(user):
    with pytest.raises(ShareNotFound) as caught:
        services.continue_shared(user=user, token="no-such-token")
    assert caught.value.detail == (
        "This shared conversation does not exist or is no longer shared."
    )
    assert caught.value.status_code == 404
    assert not ChatSession.objects.exists()


@pytest.mark.parametrize(
    ("pinned", "archived", "expected"),
    [
        (True, None, (True, False)),
        (None, True, (False, True)),
        (True, True, (True, True)),
        (None, None, (False, False)),
    ],
)
def test_organizing_sets_only_what_is_given_and_keeps_the_activity_time(
    user, pinned, archived, expected
):
    session = conversation(user, turns=1)
    ChatSession.objects.filter(pk=session.pk).update(updated_at=LONG_AGO)
    other = conversation(user, turns=1)

    result = services.organize_session(
        user=user, session_id=session.pk, pinned=pinned, archived=archived
    )

    assert (result.pinned, result.archived) == expected
    row = ChatSession.objects.values_list("pinned", "archived", "updated_at").get(pk=session.pk)
    assert row == (*expected, LONG_AGO)
    assert ChatSession.objects.values_list("pinned", "archived").get(pk=other.pk) == (
        False,
        False,
    )


def test_organizing_back_clears_each_flag(user):
    session = conversation(user, turns=1)
    ChatSession.objects.filter(pk=session.pk).update(pinned=True, archived=True)

    result = services.organize_session(user=user, session_id=session.pk, pinned=False)
    assert (result.pinned, result.archived) == (False, True)
    result = services.organize_session(user=user, session_id=session.pk, archived=False)
    assert (result.pinned, result.archived) == (False, False)
    assert ChatSession.objects.values_list("pinned", "archived").get(pk=session.pk) == (
        False,
        False,
    )


def test_organizing_another_users_conversation_is_not_found(user, other_user):
    session = conversation(user, turns=1)
    with pytest.raises(SessionNotFound):
        services.organize_session(user=other_user, session_id=session.pk, pinned=True)
    assert not ChatSession.objects.filter(pinned=True).exists()


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        ("", ""),
        ("  kept inside  \n", "kept inside"),
        ("x" * 2000, "x" * 2000),
        (" " + "x" * 2000 + " ", "x" * 2000),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
    ],
)
def test_a_comment_is_stripped_and_may_be_2000_characters(comment, expected):
    assert services.clean_feedback_comment(comment) == expected


@pytest.mark.parametrize(
    ("comment", "sentence"),
    [
        (5, "The comment must be text."),
        (None, "The comment must be text."),
        ("x" * 2001, "The comment can be at most 2000 characters."),
        ("bell \x07", "The comment contains characters that are not allowed."),
    ],
)
def test_a_bad_comment_is_refused_with_its_sentence(comment, sentence):
    with pytest.raises(InvalidInput) as caught:
        services.clean_feedback_comment(comment)
    assert (caught.value.detail, caught.value.field) == (sentence, "comment")


def test_rating_stores_the_users_rating_and_rating_again_replaces_it(user, other_user):
    reply = conversation(user, turns=1).messages.get(role="assistant")
    before = timezone.now()

    first = services.rate_reply(user=user, message_id=reply.pk, rating="down", comment=" bad ")
    second = services.rate_reply(user=user, message_id=str(reply.pk), rating="up")

    row = MessageFeedback.objects.get()
    assert (row.pk, row.user, row.message, row.rating, row.comment) == (
        first.pk,
        user,
        reply,
        "up",
        "",
    )
    assert second.pk == first.pk and (first.rating, first.comment) == ("down", "bad")
    assert row.updated_at >= before and row.updated_at >= row.created_at


@pytest.mark.parametrize("rating", ["meh", "UP", "", None])
def test_a_rating_other_than_up_or_down_is_refused(user, rating):
    reply = conversation(user, turns=1).messages.get(role="assistant")
    with pytest.raises(InvalidInput) as caught:
        services.rate_reply(user=user, message_id=reply.pk, rating=rating)
    assert (caught.value.detail, caught.value.field) == (
        'The rating must be "up" or "down".',
        "rating",
    )
    assert not MessageFeedback.objects.exists()


def test_a_question_cannot_be_rated_nor_its_rating_removed(user):
    question = conversation(user, turns=1).messages.get(role="user")
    for call in (
        lambda: services.rate_reply(user=user, message_id=question.pk, rating="up"),
        lambda: services.remove_rating(user=user, message_id=question.pk),
    ):
        with pytest.raises(InvalidInput) as caught:
            call()
        assert (caught.value.detail, caught.value.field) == (
            "Only the assistant's replies can be rated.",
            "messageId",
        )
    assert not MessageFeedback.objects.exists()


def test_another_users_reply_cannot_be_rated_nor_its_rating_removed(user, other_user):
    reply = conversation(user, turns=1).messages.get(role="assistant")
    services.rate_reply(user=user, message_id=reply.pk, rating="up")
    with pytest.raises(MessageNotFound):
        services.rate_reply(user=other_user, message_id=reply.pk, rating="down")
    with pytest.raises(MessageNotFound):
        services.remove_rating(user=other_user, message_id=reply.pk)
    assert list(MessageFeedback.objects.values_list("user", "rating")) == [(user.pk, "up")]


def test_removing_a_rating_removes_only_the_users_own(user, other_user):
    reply = conversation(user, turns=1).messages.get(role="assistant")
    other_reply = conversation(user, turns=1).messages.get(role="assistant")
    services.rate_reply(user=user, message_id=reply.pk, rating="up")
    services.rate_reply(user=user, message_id=other_reply.pk, rating="down")
    # A rating of the same reply by someone else (a row the service would never write).
    MessageFeedback.objects.create(user=other_user, message=reply, rating="down")

    services.remove_rating(user=user, message_id=reply.pk)

    assert sorted(MessageFeedback.objects.values_list("user", "message", "rating")) == sorted(
        [(user.pk, other_reply.pk, "down"), (other_user.pk, reply.pk, "down")]
    )


# --- selectors ---------------------------------------------------------------------------


def test_a_share_is_found_by_its_token_only(user):
    session, _ = mixed_conversation(user)
    share = services.share_session(user=user, session_id=session.pk)
    services.share_session(user=user, session_id=conversation(user, turns=1).pk)

    assert selectors.get_share(token=share.token) == share
    for token in ("", share.token[:-1], share.token.upper(), None):
        with pytest.raises(ShareNotFound):
            selectors.get_share(token=token)


def test_shared_messages_are_in_position_order(user):
    session, kept = mixed_conversation(user)
    share = services.share_session(user=user, session_id=session.pk)
    # Positions written out of id order.
    rows = list(SharedMessage.objects.filter(share=share).order_by("position"))
    for row, position in zip(rows, (9, 5, 7), strict=True):
        SharedMessage.objects.filter(pk=row.pk).update(position=position)

    assert [m.message_id for m in selectors.shared_messages(share)] == [
        kept[1].pk,
        kept[2].pk,
        kept[0].pk,
    ]


def test_a_users_shares_are_theirs_only_newest_snapshot_first(user, other_user):
    first = services.share_session(user=user, session_id=conversation(user, turns=1).pk)
    second = services.share_session(user=user, session_id=conversation(user, turns=1).pk)
    services.share_session(user=other_user, session_id=conversation(other_user, turns=1).pk)
    SharedConversation.objects.filter(pk=second.pk).update(updated_at=LONG_AGO)

    assert list(selectors.shares_for_user(user)) == [first, second]
    SharedConversation.objects.filter(pk=first.pk).update(updated_at=LONG_AGO - timedelta(days=1))
    assert list(selectors.shares_for_user(user)) == [second, first]


def test_visible_messages_are_the_finished_shown_turns_of_the_branch_in_order(user):
    session, kept = mixed_conversation(user)
    # Sequences out of creation order do not change the order: the sequence does.
    assert list(selectors.visible_messages(session)) == kept
    assert list(selectors.visible_messages(conversation(user, turns=0))) == []


def test_an_export_holds_every_branch_or_the_current_one_of_the_owners_conversation(
    user, other_user
):
    session, _ = mixed_conversation(user)
    off = MessageFactory(
        session=session, role="user", content="off branch", parent=None, make_current=False
    )
    conversation(user, turns=1)

    got, every = selectors.session_for_export(user=user, session_id=session.pk)
    _, branch = selectors.session_for_export(
        user=user, session_id=str(session.pk), every_branch=False
    )

    assert got == session
    assert [m.pk for m in every] == list(
        Message.objects.filter(session=session).order_by("sequence").values_list("pk", flat=True)
    )
    assert len(every) == 9 and every[-1] == off
    assert off not in branch and [m.content for m in branch][:2] == [
        "first question",
        "system words",
    ]
    assert len(branch) == 8
    with pytest.raises(SessionNotFound):
        selectors.session_for_export(user=other_user, session_id=session.pk)


def test_feedback_is_the_users_own(user, other_user):
    reply = conversation(user, turns=1).messages.get(role="assistant")
    assert selectors.feedback_for(user=user, message=reply) is None
    theirs = MessageFeedback.objects.create(user=other_user, message=reply, rating="down")
    assert selectors.feedback_for(user=user, message=reply) is None
    mine = MessageFeedback.objects.create(user=user, message=reply, rating="up")

    assert selectors.feedback_for(user=user, message=reply) == mine
    assert selectors.feedback_for(user=other_user, message=reply) == theirs


def test_feedback_is_that_of_the_message_asked_for(user):
    first, second = (
        conversation(user, turns=2).messages.filter(role="assistant").order_by("sequence")
    )
    # The rating of another reply of theirs must not answer for this one.
    on_first = MessageFeedback.objects.create(user=user, message=first, rating="up")
    assert selectors.feedback_for(user=user, message=second) is None
    on_second = MessageFeedback.objects.create(user=user, message=second, rating="down")

    assert selectors.feedback_for(user=user, message=second) == on_second
    assert selectors.feedback_for(user=user, message=first) == on_first


def test_with_feedback_annotates_each_message_with_the_users_rating_and_comment(user, other_user):
    session = conversation(user, turns=2)
    replies = list(session.messages.filter(role="assistant").order_by("sequence"))
    MessageFeedback.objects.create(user=user, message=replies[0], rating="down", comment="no")
    MessageFeedback.objects.create(user=other_user, message=replies[1], rating="up", comment="x")

    rows = selectors.with_feedback(session.messages.order_by("sequence"), user=user)

    assert [(m.content, m.my_rating, m.my_comment) for m in rows] == [
        ("question 0", None, None),
        ("answer 0", "down", "no"),
        ("question 1", None, None),
        ("answer 1", None, None),
    ]


def test_an_exports_messages_come_with_their_attachments_read(user, django_assert_num_queries):
    session = conversation(user, turns=1)
    question = session.messages.get(role="user")
    stored = StoredFile.objects.create(
        owner=user,
        name="notes.txt",
        size=5,
        content_type="text/plain",
        kind=StoredFile.Kind.DOCUMENT,
        sha256="2" * 64,
        key="test/notes.txt",
    )
    MessageAttachment.objects.create(message=question, file=stored, position=0)
    _, messages = selectors.session_for_export(user=user, session_id=session.pk)

    with django_assert_num_queries(0):
        files = [[link.file.name for link in m.attachment_links.all()] for m in messages]

    assert files == [["notes.txt"], []]
