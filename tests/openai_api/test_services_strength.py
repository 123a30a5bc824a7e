"""``openai_api.services`` called directly (no server): the model a request may name, the
conversation made from a request (every stored row exactly), a continued conversation that
trusts only its stored history, image parts stored as the caller's files and named by
where they were, each refusal leaving nothing, and which refusals keep a conversation."""

from __future__ import annotations

import base64
import copy

import pytest
from django.contrib.auth.models import Group

from attachments import attaching
from attachments.models import MessageAttachment, StoredFile
from catalogue.entries import ModelEntry
from conversations.context import count_tokens
from conversations.errors import (
    LLMUnavailable,
    MessageBlocked,
    ModerationUnavailable,
    RateLimited,
)
from conversations.models import ChatSession, Message
from conversations.services import CheckedSend
from openai_api import services
from openai_api.errors import OpenAIError
from openai_api.requests import read_request
from tests.attachments.samples import image_bytes, jpeg_claiming
from tests.factories import UserFactory, conversation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def catalogue(settings, tmp_path):
    """Two models, ``seer`` (the default, takes images) and ``plain``; files in a folder of
    this test's own."""
    settings.CHATBOT_MODELS = (
        ModelEntry(
            id="seer",
            label="Seer",
            provider=None,
            upstream="seer",
            context_tokens=8000,
            reply_tokens=1000,
            vision=True,
            default=True,
        ),
        ModelEntry(
            id="plain",
            label="Plain",
            provider=None,
            upstream="plain",
            context_tokens=8000,
            reply_tokens=1000,
        ),
    )
    storages = copy.deepcopy(settings.STORAGES)
    storages["attachments"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": tmp_path / "attachments"},
    }
    settings.STORAGES = storages
    settings.CHATBOT_MODERATION = "off"


TEXT = {"type": "text", "text": "And this?"}


def url_of(data: bytes, kind="image/png") -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


def image(data: bytes, kind="image/png") -> dict:
    return {"type": "image_url", "image_url": {"url": url_of(data, kind)}}


def completion(messages, model="seer"):
    return read_request({"model": model, "messages": messages})


def check(user, messages, *, model="seer", session_id=None):
    entry = services.check_model(user=user, model=model)
    return services.check_completion(
        user=user, request=completion(messages, model), model=entry, session_id=session_id
    )


def rows(session_id) -> list[tuple]:
    return list(
        Message.objects.filter(session_id=session_id)
        .order_by("sequence")
        .values_list("sequence", "role", "content", "model", "token_count")
    )


# --- Models ---------------------------------------------------------------------------------


def test_a_request_names_a_usable_model_or_gets_openais_404(user):
    assert [entry.id for entry in services.usable_models(user=user)] == ["seer", "plain"]
    assert services.check_model(user=user, model="plain").id == "plain"

    with pytest.raises(OpenAIError) as refused:
        services.check_model(user=user, model="nope")

    error = refused.value
    assert (error.message, error.status, error.type, error.param, error.code) == (
        "The model 'nope' does not exist or you do not have access to it.",
        404,
        "invalid_request_error",
        "model",
        "model_not_found",
    )


def test_a_model_of_the_users_group_is_usable_and_closed_to_others(user, other_user, settings):
    staff_only = ModelEntry(
        id="staff",
        label="Staff",
        provider=None,
        upstream="staff",
        context_tokens=8000,
        reply_tokens=1000,
        groups=frozenset({"staff"}),
    )
    settings.CHATBOT_MODELS = (*settings.CHATBOT_MODELS, staff_only)
    user.groups.add(Group.objects.create(name="staff"))

    assert [entry.id for entry in services.usable_models(user=user)] == ["seer", "plain", "staff"]
    assert services.check_model(user=user, model="staff") == staff_only
    assert [entry.id for entry in services.usable_models(user=other_user)] == ["seer", "plain"]
    with pytest.raises(OpenAIError) as refused:
        services.check_model(user=other_user, model="staff")
    assert refused.value.status == 404


# --- A new conversation ---------------------------------------------------------------------


def test_a_new_conversation_holds_the_requests_instructions_and_history(user, other_user):
    conversation(other_user, turns=1)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "First question"},
        {"role": "developer", "content": "Answer in French."},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": "Second question"},
    ]

    checked = check(user, messages, model="plain")

    session = ChatSession.objects.get(user=user)
    assert (checked.session_id, checked.new_session) == (session.pk, True)
    assert (checked.files, checked.earlier_images) == ((), ())
    assert (session.model, session.instructions) == ("plain", "Be brief.\n\nAnswer in French.")
    assert rows(session.pk) == [
        (1, "user", "First question", "", count_tokens("First question")),
        (2, "assistant", "First answer", "plain", count_tokens("First answer")),
        (3, "user", "Second question", "", count_tokens("Second question")),
        (4, "assistant", "", "plain", 0),
    ]
    stored = list(Message.objects.filter(session=session).order_by("sequence"))
    assert [m.parent_id for m in stored] == [None, stored[0].pk, stored[1].pk, stored[2].pk]
    first, answer = stored[0], stored[1]
    assert first.created_at == first.updated_at == answer.created_at == session.created_at
    assert session.updated_at >= session.created_at
    assert checked.send.turn.user_message == stored[2]
    assert Message.objects.filter(session__user=other_user).count() == 2


def test_a_request_of_one_message_makes_an_empty_conversation_first(user):
    checked = check(user, [{"role": "user", "content": "Hello"}])

    session = ChatSession.objects.get(pk=checked.session_id)
    assert (session.model, session.instructions) == ("seer", "")
    assert rows(session.pk) == [
        (1, "user", "Hello", "", count_tokens("Hello")),
        (2, "assistant", "", "seer", 0),
    ]


def test_instructions_pass_at_20000_characters_and_are_refused_past(user):
    def messages(first, second):
        return [
            {"role": "system", "content": "x" * first},
            {"role": "developer", "content": "y" * second},
            {"role": "user", "content": "Hi"},
        ]

    made = check(user, messages(9_999, 9_999)).session_id
    assert ChatSession.objects.get(pk=made).instructions == "x" * 9_999 + "\n\n" + "y" * 9_999
    with pytest.raises(OpenAIError) as refused:
        check(user, messages(10_000, 9_999))

    assert (refused.value.message, refused.value.param, refused.value.status) == (
        "The system messages are too long: 20001 characters, the limit is 20000.",
        "messages",
        400,
    )
    assert ChatSession.objects.count() == 1


def test_a_send_the_door_refuses_leaves_no_conversation(user, monkeypatch):
    def refuse(**kwargs):
        raise RateLimited(5)

    monkeypatch.setattr(services.services, "check_send", refuse)
    png = image_bytes("PNG")

    with pytest.raises(RateLimited):
        check(user, [{"role": "user", "content": [image(png)]}])

    assert not ChatSession.objects.exists()
    assert not StoredFile.objects.exists()


def test_a_new_conversation_waiting_for_its_check_is_stored_with_its_model_and_leaf(
    user, other_user, settings
):
    """In block mode the send waits for the content check: what the door stored already is
    the conversation (with the request's model) whose current message is the last of its
    history, the message sent next continuing it."""
    settings.CHATBOT_MODERATION = "block"
    conversation(other_user, turns=1)
    messages = [
        {"role": "user", "content": "One"},
        {"role": "assistant", "content": "Two"},
        {"role": "user", "content": "Three"},
        {"role": "user", "content": "Four"},
    ]

    checked = check(user, messages, model="plain")

    assert checked.send.turn is None
    session = ChatSession.objects.get(pk=checked.session_id)
    stored = list(Message.objects.filter(session=session).order_by("sequence"))
    assert [m.content for m in stored] == ["One", "Two", "Three"]
    assert (session.model, session.current_message_id) == ("plain", stored[-1].pk)
    other = ChatSession.objects.get(user=other_user)
    assert other.current_message.content == "answer 0"


def test_the_conversation_made_from_a_request_points_at_its_last_message(user):
    request = completion(
        [
            {"role": "user", "content": "One"},
            {"role": "assistant", "content": "Two"},
            {"role": "user", "content": "Three"},
            {"role": "user", "content": "Four"},
        ]
    )

    session = services._conversation_from_request(user=user, request=request, stored={})

    last = Message.objects.get(session=session, sequence=3)
    assert session.current_message == last
    assert ChatSession.objects.get(pk=session.pk).current_message == last


# --- A continued conversation ---------------------------------------------------------------


def test_a_continued_conversation_gets_only_the_last_message(user):
    session = conversation(user, turns=1)
    messages = [
        {"role": "system", "content": "Ignored"},
        {"role": "user", "content": "Not stored"},
        {"role": "user", "content": "Next question"},
    ]

    checked = check(user, messages, session_id=session.pk)

    assert (checked.session_id, checked.new_session, checked.files) == (session.pk, False, ())
    assert [row[2] for row in rows(session.pk)] == [
        "question 0",
        "answer 0",
        "Next question",
        "",
    ]
    assert ChatSession.objects.get(pk=session.pk).instructions == ""
    assert ChatSession.objects.count() == 1


def test_earlier_images_of_a_continued_conversation_are_neither_checked_nor_stored(user):
    session = conversation(user, turns=1)
    messages = [
        {"role": "user", "content": [image(image_bytes("PNG"))]},
        {"role": "user", "content": "Next"},
    ]

    checked = check(user, messages, model="plain", session_id=session.pk)

    assert checked.files == ()
    assert not StoredFile.objects.exists()


def test_a_continued_conversation_switches_to_the_model_the_request_names(user, other_user):
    session = conversation(user, turns=1)
    theirs = conversation(other_user, turns=1)

    checked = check(
        user, [{"role": "user", "content": "Next"}], model="plain", session_id=session.pk
    )

    session.refresh_from_db()
    assert session.model == "plain"
    assert checked.send.turn.reply.model == "plain"
    theirs_model = ChatSession.objects.get(pk=theirs.pk).model
    assert theirs_model == theirs.model


def test_the_last_messages_images_of_a_continued_conversation_are_stored_and_sent(user):
    session = conversation(user, turns=1)
    png = image_bytes("PNG")
    messages = [
        {"role": "user", "content": "Not stored"},
        {"role": "user", "content": [image(png), TEXT]},
    ]

    checked = check(user, messages, session_id=session.pk)

    file = StoredFile.objects.get(owner=user)
    assert file.name == "image-2-1.png"
    assert (checked.session_id, checked.new_session, checked.files) == (session.pk, False, (file,))
    sent = checked.send.turn.user_message
    assert (sent.session_id, sent.content) == (session.pk, "And this?")
    assert list(MessageAttachment.objects.values_list("message_id", "file_id")) == [
        (sent.pk, file.pk)
    ]


# --- Images ---------------------------------------------------------------------------------


def test_images_become_the_callers_files_on_the_messages_that_held_them(user):
    png, jpeg = image_bytes("PNG"), image_bytes("JPEG")
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Look"}, image(png)]},
        {"role": "assistant", "content": "A square."},
        {"role": "user", "content": [image(jpeg, "image/jpeg"), image(png), TEXT]},
    ]

    checked = check(user, messages)

    files = {file.name: file for file in StoredFile.objects.filter(owner=user)}
    assert sorted(files) == ["image-1-1.png", "image-3-1.jpeg", "image-3-2.png"]
    assert checked.files == (
        files["image-1-1.png"],
        files["image-3-1.jpeg"],
        files["image-3-2.png"],
    )
    assert checked.earlier_images == ()  # stored already: checked with the send
    links = MessageAttachment.objects.order_by("message__sequence", "position")
    assert [(link.message.sequence, link.file.name, link.position) for link in links] == [
        (1, "image-1-1.png", 0),
        (3, "image-3-1.jpeg", 0),
        (3, "image-3-2.png", 1),
    ]
    first = Message.objects.get(session_id=checked.session_id, sequence=1)
    assert first.token_count == count_tokens("Look") + 765


def test_earlier_images_are_given_for_the_content_check_when_the_send_waits(user, settings):
    settings.CHATBOT_MODERATION = "block"
    png, gif = image_bytes("PNG"), image_bytes("GIF")
    messages = [
        {"role": "user", "content": [image(png), image(gif, "image/gif")]},
        {"role": "assistant", "content": "Two."},
        {"role": "user", "content": [image(png), TEXT]},
    ]

    checked = check(user, messages)

    assert checked.send.turn is None
    earlier = [file for file in checked.files if file.name.startswith("image-1-")]
    assert checked.earlier_images == tuple(attaching.data_url(file) for file in earlier)
    assert [file.name for file in earlier] == ["image-1-1.png", "image-1-2.gif"]


def test_an_image_for_a_model_without_images_is_refused_naming_where_it_was(user):
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "user", "content": ["x", image(image_bytes("PNG"))][1:]},
    ]

    with pytest.raises(OpenAIError) as refused:
        check(user, messages, model="plain")

    error = refused.value
    assert (error.message, error.status, error.param, error.code) == (
        "The model 'plain' does not accept images ('messages[1].content[0].image_url.url'): "
        "remove the image parts or choose a model that accepts images.",
        400,
        "messages",
        "images_not_supported",
    )
    assert not ChatSession.objects.exists() and not StoredFile.objects.exists()


@pytest.mark.parametrize(
    ("data", "status", "code", "says"),
    [
        (
            b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
            400,
            "unreadable",
            "The image could not be read: it is damaged.",
        ),
        (
            jpeg_claiming(8000, 5001),
            413,
            "too_large",
            "This image is 8000x5001 pixels, more than the limit of 40 megapixels.",
        ),
    ],
)
def test_an_image_the_files_refuse_is_refused_naming_it_and_none_are_kept(
    user, data, status, code, says
):
    messages = [{"role": "user", "content": [image(image_bytes("PNG")), image(data)]}]

    with pytest.raises(OpenAIError) as refused:
        check(user, messages)

    param = "messages[0].content[1].image_url.url"
    error = refused.value
    assert (error.message, error.status, error.param, error.code) == (
        f"'{param}': {says}",
        status,
        param,
        code,
    )
    assert not StoredFile.objects.exists() and not ChatSession.objects.exists()


def test_the_storage_quota_keeps_its_413(user, settings):
    png = image_bytes("PNG")
    settings.CHATBOT_USER_STORAGE_BYTES = len(png) + 5

    with pytest.raises(OpenAIError) as refused:
        check(user, [{"role": "user", "content": [image(png), image(png)]}])

    assert (refused.value.status, refused.value.code) == (413, "storage_quota")
    assert refused.value.message.startswith(
        f"'messages[0].content[1].image_url.url': Your files use {len(png)} of your "
    )
    assert not StoredFile.objects.exists()


def test_forgetting_keeps_a_file_a_message_holds_and_never_touches_anothers(user, other_user):
    parts = [{"role": "user", "content": [image(image_bytes("PNG")), TEXT]}]
    held = check(user, parts).files[0]
    images = {0: completion(parts).messages[0].images}
    loose = services._store_images(user=user, images=images)[0][0]
    theirs = services._store_images(user=other_user, images=images)[0][0]

    services._forget(user=user, stored=[held, loose, theirs])

    assert set(StoredFile.objects.all()) == {held, theirs}


# --- What a refusal keeps -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("new_session", "stored", "exc", "kept"),
    [
        (False, False, LLMUnavailable(), True),
        (True, True, LLMUnavailable(), True),
        (True, False, MessageBlocked(), True),
        (True, False, ModerationUnavailable(), True),
        (True, False, RateLimited(3), False),
        (True, False, OpenAIError("flagged earlier"), False),
    ],
)
def test_which_refusals_keep_their_conversation(new_session, stored, exc, kept):
    send = CheckedSend(UserFactory.build(), "hi", None, None, turn=object() if stored else None)
    checked = services.CheckedCompletion(send=send, session_id=None, new_session=new_session)

    assert services.conversation_kept(checked, exc) is kept


# --- Finishing: the earlier messages' check, and what a refusal leaves ----------------------


class Verdict:
    def __init__(self, refusal=None) -> None:
        self._refusal = refusal

    def refusal(self):
        return self._refusal


@pytest.fixture
def content_checks(monkeypatch):
    """The content checks asked for, answered by ``content_checks.verdict``."""

    class Checks(list):
        verdict = Verdict()

    checks = Checks()

    async def check_content(text, *, images=()):
        checks.append((text, images))
        return checks.verdict

    monkeypatch.setattr(services.services, "check_content", check_content)
    return checks


HISTORY = [
    {"role": "system", "content": "Rules"},
    {"role": "user", "content": "First"},
    {"role": "assistant", "content": "Answer"},
    {"role": "user", "content": "Second"},
    {"role": "user", "content": "Last"},
]


async def test_the_earlier_user_messages_are_checked_together_with_their_images(
    content_checks,
):
    await services._check_earlier_messages(completion(HISTORY), images=("data:a", "data:b"))
    await services._check_earlier_messages(completion(HISTORY[-1:]), images=())

    assert content_checks == [("First\n\nSecond", ("data:a", "data:b"))]


@pytest.mark.parametrize(
    ("refusal", "expected"),
    [
        (
            MessageBlocked(),
            (
                "An earlier message in 'messages' may break the usage policy; nothing was stored.",
                400,
                "invalid_request_error",
                "messages",
                "content_policy_violation",
            ),
        ),
        (
            ModerationUnavailable(),
            (
                ModerationUnavailable.default_detail,
                503,
                "server_error",
                None,
                "moderation_unavailable",
            ),
        ),
    ],
)
async def test_a_refused_earlier_message_is_refused_in_openais_terms(
    content_checks, refusal, expected
):
    content_checks.verdict = Verdict(refusal)

    with pytest.raises(OpenAIError) as refused:
        await services._check_earlier_messages(completion(HISTORY), images=())

    error = refused.value
    assert (error.message, error.status, error.type, error.param, error.code) == expected


@pytest.fixture
def finishing(monkeypatch):
    """finish_send answering ``finishing.outcome``; what was finished, discarded, forgotten."""

    class Finishing:
        outcome: object = "the turn"
        finished: list = []
        discarded: list = []
        forgotten: list = []

    state = Finishing()

    async def finish_send(send):
        state.finished.append(send)
        if isinstance(state.outcome, Exception):
            raise state.outcome
        return state.outcome

    def delete_session(*, user, session_id):
        state.discarded.append((user, session_id))

    def forget(*, user, stored):
        state.forgotten.append((user, stored))

    monkeypatch.setattr(services.services, "finish_send", finish_send)
    monkeypatch.setattr(services.services, "delete_session", delete_session)
    monkeypatch.setattr(services, "_forget", forget)
    return state


def checked_completion(*, new_session=True, files=(), earlier_images=()):
    send = CheckedSend("the user", "Last", "session-id", None)
    return services.CheckedCompletion(
        send=send,
        session_id="session-id",
        new_session=new_session,
        files=files,
        earlier_images=earlier_images,
    )


async def test_a_new_conversation_checks_its_earlier_messages_then_finishes(
    content_checks, finishing
):
    checked = checked_completion(earlier_images=("data:x",))

    turn = await services.finish_completion(checked, request=completion(HISTORY))

    assert turn == "the turn"
    assert content_checks == [("First\n\nSecond", ("data:x",))]
    assert finishing.finished == [checked.send]
    assert (finishing.discarded, finishing.forgotten) == ([], [])


async def test_a_continued_conversation_checks_only_its_own_message(content_checks, finishing):
    checked = checked_completion(new_session=False)

    assert await services.finish_completion(checked, request=completion(HISTORY)) == "the turn"
    assert content_checks == []


async def test_a_refused_new_conversation_is_discarded_with_its_files(content_checks, finishing):
    finishing.outcome = RateLimited(4)
    checked = checked_completion(files=("file",))

    with pytest.raises(RateLimited):
        await services.finish_completion(checked, request=completion(HISTORY))

    assert finishing.discarded == [("the user", "session-id")]
    assert finishing.forgotten == [("the user", ("file",))]


async def test_a_flagged_earlier_message_discards_the_new_conversation(content_checks, finishing):
    content_checks.verdict = Verdict(MessageBlocked())

    with pytest.raises(OpenAIError):
        await services.finish_completion(checked_completion(), request=completion(HISTORY))

    assert finishing.finished == []
    assert finishing.discarded == [("the user", "session-id")]
    assert finishing.forgotten == []


async def test_a_blocked_message_keeps_its_conversation_but_not_the_files(
    content_checks, finishing
):
    finishing.outcome = MessageBlocked()

    with pytest.raises(MessageBlocked):
        await services.finish_completion(
            checked_completion(files=("file",)), request=completion(HISTORY)
        )

    assert finishing.discarded == []
    assert finishing.forgotten == [("the user", ("file",))]
