"""Files sent with a message, through the send's door to the loopback model: exactly what
the model receives for a document and for an image, in the turn and in later turns, and the
refusals, with nothing stored."""

from __future__ import annotations

import asyncio
import base64

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from attachments import attaching
from attachments import services as attachment_services
from attachments.errors import FileNotFound
from attachments.models import MessageAttachment
from attachments.storage import file_storage
from conversations import replies, services
from conversations.context import count_tokens, room_for_files, system_prompt_for
from conversations.errors import MessageBlocked
from conversations.models import Message
from core.errors import InvalidInput
from loopback.upstream import Behaviour, Moderation
from tests.attachments import samples
from tests.attachments.samples import stored
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

NOTE = 'Summarize\n\n<file name="q3.csv">\nRevenue: 12\n</file>'


async def send(user, text, *, session_id=None, attachments=None) -> Message:
    """Send through the door, run the reply to its end; the stored reply."""
    turn = await services.send_message(
        user=user, text=text, session_id=session_id, attachments=attachments
    )
    run = replies.start_reply(turn)
    finished = await run.result()
    await asyncio.wait_for(asyncio.shield(run.task), 5)
    return finished.message


def user_turns(upstream) -> list:
    """What the model received for the last reply, after the system prompt."""
    return upstream.reply_requests()[-1]["messages"][1:]


def stored_bytes(file) -> bytes:
    with file_storage().open(file.key, "rb") as handle:
        return handle.read()


def nothing_stored(user) -> bool:
    return not Message.objects.filter(session__user=user).exists() and not (
        MessageAttachment.objects.exists()
    )


async def test_a_document_reaches_the_model_after_the_message_marked_with_its_name(upstream):
    user = await sync_to_async(UserFactory)()
    note = await sync_to_async(stored)(user, b"Revenue: 12", "q3.csv")

    reply = await send(user, "Summarize", attachments=[str(note.pk)])

    assert user_turns(upstream) == [{"role": "user", "content": NOTE}]
    question = await Message.objects.aget(pk=reply.parent_id)
    links = [link async for link in MessageAttachment.objects.values_list("message", "file")]
    assert links == [(question.pk, note.pk)]
    # The message costs its text and its file: the budget of later turns counts both.
    assert question.content == "Summarize"
    assert question.token_count == count_tokens("Summarize") + count_tokens(
        attaching.document_block(note)
    )


async def test_an_image_reaches_a_model_that_takes_images_as_a_data_url_part(upstream, models):
    user = await sync_to_async(UserFactory)()
    image = await sync_to_async(stored)(user, samples.image_bytes("PNG"), "shot.png")
    note = await sync_to_async(stored)(user, b"Revenue: 12", "q3.csv")
    upstream.push(Behaviour(content="A red square."))

    reply = await send(user, "Summarize", attachments=[str(image.pk), str(note.pk)])

    data = base64.b64encode(await sync_to_async(stored_bytes)(image)).decode()
    assert user_turns(upstream) == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": NOTE},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
            ],
        }
    ]
    assert upstream.reply_requests()[-1]["model"] == "seer"
    assert reply.content == "A red square."


async def test_another_users_or_a_missing_file_is_not_found_and_nothing_is_stored(upstream):
    user, other = await sync_to_async(UserFactory)(), await sync_to_async(UserFactory)()
    theirs = await sync_to_async(stored)(other, b"theirs", "theirs.txt")

    for file_id in (str(theirs.pk), "0e4f1b52-7d43-4a8e-9a57-5d2b4d1c2a10", "not-an-id"):
        with pytest.raises(FileNotFound) as refused:
            await services.send_message(user=user, text="Read it", attachments=[file_id])
        assert (refused.value.status_code, refused.value.detail) == (404, "File not found.")

    assert await sync_to_async(nothing_stored)(user)
    assert upstream.requests == []


async def test_a_file_swept_between_the_check_and_the_link_is_not_found_and_nothing_is_stored(
    upstream, monkeypatch
):
    """The daily sweep deletes an unattached upload after the send checked it and before
    the send links it: a 404, no message, no link, not an integrity error."""
    user = await sync_to_async(UserFactory)()
    note = await sync_to_async(stored)(user, b"Revenue: 12", "q3.csv")
    checked = attaching.check_attachments

    def check_then_sweep(**kwargs):
        attached = checked(**kwargs)
        sweep = attaching.StoredFile.objects.filter(pk=note.pk)
        assert attachment_services.delete_unattached_files(files=sweep) == 1
        return attached

    monkeypatch.setattr(attaching, "check_attachments", check_then_sweep)
    with pytest.raises(FileNotFound):
        await services.send_message(user=user, text="Read it", attachments=[str(note.pk)])

    assert await sync_to_async(nothing_stored)(user)
    assert upstream.requests == []


async def test_an_image_for_a_model_without_images_is_refused_naming_attachments(upstream, models):
    user = await sync_to_async(UserFactory)()
    image = await sync_to_async(stored)(user, samples.image_bytes("PNG"), "shot.png")
    started = await sync_to_async(services.check_send)(user=user, text="Hello", model="plain")

    with pytest.raises(InvalidInput) as refused:
        await services.send_message(
            user=user,
            text="And this?",
            session_id=started.turn.session.pk,
            attachments=[str(image.pk)],
        )
    # The same with a switch to that model in the send itself.
    with pytest.raises(InvalidInput) as switched:
        await sync_to_async(services.check_send)(
            user=user, text="And this?", model="plain", attachments=[str(image.pk)]
        )

    assert refused.value.status_code == 400
    assert refused.value.field == switched.value.field == "attachments"
    assert refused.value.detail.startswith("This model does not accept images")
    assert await Message.objects.filter(session__user=user).acount() == 2
    assert not await MessageAttachment.objects.aexists()


async def test_documents_over_the_budget_are_refused_saying_the_tokens_needed_and_available(
    upstream, models
):
    user = await sync_to_async(UserFactory)()
    long = await sync_to_async(stored)(user, b"word " * 5000, "long.txt")
    needed = attaching.Attached((long,)).tokens
    available = room_for_files(
        system_prompt=system_prompt_for(), tokens=count_tokens("Read it"), budget=4000
    )

    with pytest.raises(InvalidInput) as refused:
        await services.send_message(user=user, text="Read it", attachments=[str(long.pk)])

    assert refused.value.field == "attachments"
    assert refused.value.detail == (
        f"The attachments need {needed} tokens but only {available} are available in this "
        "model's context. Attach fewer or shorter files."
    )
    assert needed > 4000 > available > 3900
    assert await sync_to_async(nothing_stored)(user)
    assert upstream.requests == []


async def test_later_turns_and_a_regenerated_reply_send_the_files_again(upstream):
    user = await sync_to_async(UserFactory)()
    note = await sync_to_async(stored)(user, b"Revenue: 12", "q3.csv")
    first = await send(user, "Summarize", attachments=[str(note.pk)])

    await send(user, "And in words?", session_id=first.session_id)
    later = user_turns(upstream)
    turn = await services.regenerate_reply(user=user, session_id=first.session_id)
    await replies.start_reply(turn).result()

    assert later == [
        {"role": "user", "content": NOTE},
        {"role": "assistant", "content": f"You said: {NOTE}"},
        {"role": "user", "content": "And in words?"},
    ]
    assert user_turns(upstream) == later


async def test_a_hidden_messages_files_never_reach_the_model(upstream):
    user = await sync_to_async(UserFactory)()
    note = await sync_to_async(stored)(user, b"Secret figures", "secret.txt")
    upstream.push(Behaviour(content="Noted."))
    first = await send(user, "Summarize", attachments=[str(note.pk)])
    await Message.objects.filter(pk=first.parent_id).aupdate(hidden=True)

    await send(user, "What did I attach?", session_id=first.session_id)

    sent = upstream.reply_requests()[-1]["messages"]
    assert "Secret figures" not in str(sent)
    assert user_turns(upstream)[-1] == {"role": "user", "content": "What did I attach?"}


async def test_a_file_may_be_attached_to_several_messages(upstream):
    user = await sync_to_async(UserFactory)()
    note = await sync_to_async(stored)(user, b"Revenue: 12", "q3.csv")
    first = await send(user, "Summarize", attachments=[str(note.pk)])

    await send(user, "Again", session_id=first.session_id, attachments=[str(note.pk)])

    assert await MessageAttachment.objects.filter(file=note).acount() == 2
    assert user_turns(upstream)[-1] == {
        "role": "user",
        "content": 'Again\n\n<file name="q3.csv">\nRevenue: 12\n</file>',
    }


async def test_with_moderation_on_the_images_are_checked_with_the_message(
    upstream, models, settings
):
    settings.CHATBOT_MODERATION = "block"
    upstream.moderation = Moderation(flag_word="data:image/png")
    user = await sync_to_async(UserFactory)()
    image = await sync_to_async(stored)(user, samples.image_bytes("PNG"), "shot.png")

    with pytest.raises(MessageBlocked):
        await services.send_message(user=user, text="Look", attachments=[str(image.pk)])

    data = base64.b64encode(await sync_to_async(stored_bytes)(image)).decode()
    (checked,) = [r["body"] for r in upstream.requests if r["path"].endswith("/moderations")]
    assert checked["input"] == [
        {"type": "text", "text": "Look"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
    ]
    # Stored for moderators, flagged, with its file; never sent to the model.
    message = await Message.objects.aget(session__user=user)
    assert message.flagged and upstream.reply_requests() == []
    assert await MessageAttachment.objects.filter(message=message, file=image).aexists()


async def test_with_moderation_on_a_missing_file_is_refused_before_the_check(upstream, settings):
    settings.CHATBOT_MODERATION = "block"
    user, other = await sync_to_async(UserFactory)(), await sync_to_async(UserFactory)()
    theirs = await sync_to_async(stored)(other, b"theirs", "theirs.txt")

    with pytest.raises(FileNotFound):
        await services.send_message(user=user, text="Read", attachments=[str(theirs.pk)])

    assert upstream.requests == [] and await sync_to_async(nothing_stored)(user)


def continued_send_queries(user, session) -> int:
    """Queries of a send that continues ``session`` (a reply ended before it)."""
    Message.objects.filter(status="streaming").update(status="complete", content="ok")
    with CaptureQueriesContext(connection) as captured:
        services.check_send(user=user, text="Next", session_id=session.pk)
    return len(captured.captured_queries)


def test_the_context_reads_the_files_of_any_number_of_messages_in_one_query(
    transactional_db, upstream
):
    costs = []
    for messages_with_files in (1, 4):
        user = UserFactory()
        note = stored(user, b"Revenue: 12", "q3.csv")
        session = services.check_send(user=user, text="Start", attachments=[note.pk]).turn.session
        for _ in range(messages_with_files - 1):
            Message.objects.filter(status="streaming").update(status="complete", content="ok")
            services.check_send(
                user=user, text="More", session_id=session.pk, attachments=[note.pk]
            )
        costs.append(continued_send_queries(user, session))
    assert costs[0] == costs[1]
    # Without files in the history, one query fewer: files are read only when there are any.
    user = UserFactory()
    plain = services.check_send(user=user, text="Start").turn.session
    assert continued_send_queries(user, plain) == costs[0] - 1


# A send continuing a conversation, measured on the code before attachments (31c1e02); one
# query less on PostgreSQL since the history is read in one query there too; one more since
# a new message's depth and jump are read from its parent's (issue 14).
SEND_QUERIES = {"sqlite": 11, "postgresql": 11}


def test_a_send_without_files_costs_the_queries_it_did_before_attachments(
    transactional_db, upstream
):
    user = UserFactory()
    session = services.check_send(user=user, text="Start").turn.session

    assert continued_send_queries(user, session) == SEND_QUERIES[connection.vendor]
