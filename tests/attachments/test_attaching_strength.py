"""``attachments.attaching`` asked directly: which files a send may attach (the caller's
only, ten at most, in the order given), each refusal's sentence and field, what files cost
(exact tokens, an exact fit passes), the links written, and exactly what the model gets."""

from __future__ import annotations

import base64
import uuid

import pytest
from django.db import transaction

from attachments import attaching
from attachments.errors import FileNotFound
from attachments.models import MessageAttachment, StoredFile
from attachments.storage import file_storage
from catalogue.entries import ModelEntry
from conversations.context import Context, count_tokens
from conversations.models import Message
from core.errors import InvalidInput
from tests.attachments import samples
from tests.attachments.samples import stored
from tests.factories import conversation

pytestmark = pytest.mark.django_db

AS_A_LIST = "Send at most 10 file ids as a list."
NO_IMAGES = (
    "This model does not accept images: remove the images from the attachments or choose a "
    "model that accepts them."
)


def model(*, vision: bool) -> ModelEntry:
    return ModelEntry(
        id="m",
        label="M",
        provider=None,
        upstream="m",
        context_tokens=8000,
        reply_tokens=1000,
        vision=vision,
    )


def check(user, file_ids, *, accepts_images=True) -> attaching.Attached:
    return attaching.check_attachments(user=user, file_ids=file_ids, accepts_images=accepts_images)


def refused(user, file_ids, *, accepts_images=True, error=InvalidInput):
    with pytest.raises(error) as refusal:
        check(user, file_ids, accepts_images=accepts_images)
    return refusal.value


def image_of(user, name="shot.png") -> StoredFile:
    return stored(user, samples.image_bytes("PNG"), name)


def stored_bytes(file) -> bytes:
    with file_storage().open(file.key, "rb") as handle:
        return handle.read()


def user_message(user) -> Message:
    session = conversation(user, turns=1)
    return Message.objects.get(session=session, role=Message.Role.USER)


# --- Which files --------------------------------------------------------------------------


@pytest.mark.parametrize("nothing", [None, []])
def test_no_files_is_nothing_attached(user, nothing):
    attached = check(user, nothing, accepts_images=False)

    assert attached.files == () and attached.tokens == 0


def test_the_callers_files_come_back_in_the_order_given_as_uuid_or_text(user, other_user):
    first = stored(user, b"first", "first.txt")
    second = stored(user, b"second", "second.txt")
    stored(other_user, b"theirs", "theirs.txt")

    attached = check(user, [str(second.pk), first.pk])

    assert attached.files == (second, first)


def test_ten_files_are_accepted_and_eleven_refused(user):
    files = [stored(user, f"note {n}".encode(), f"{n}.txt") for n in range(11)]

    assert len(check(user, [file.pk for file in files[:10]]).files) == 10
    error = refused(user, [file.pk for file in files])
    assert (error.detail, error.field) == (AS_A_LIST, "attachments")


@pytest.mark.parametrize("file_ids", ["a-file-id", {"id": 1}, ("x",)])
def test_ids_not_sent_as_a_list_are_refused(user, file_ids):
    error = refused(user, file_ids)
    assert (error.detail, error.field) == (AS_A_LIST, "attachments")


@pytest.mark.parametrize("value", [7, None, ["x"]])
def test_an_id_that_is_not_text_is_a_400(user, value):
    note = stored(user, b"note", "note.txt")

    error = refused(user, [note.pk, value])

    assert (error.detail, error.field) == ("Each attachment must be a file id.", "attachments")


def test_a_file_twice_is_refused(user):
    note = stored(user, b"note", "note.txt")

    error = refused(user, [note.pk, str(note.pk)])

    assert (error.detail, error.field) == ("A file is attached twice.", "attachments")


def test_another_users_a_missing_or_a_malformed_id_is_not_found(user, other_user):
    mine = stored(user, b"mine", "mine.txt")
    theirs = stored(other_user, b"theirs", "theirs.txt")

    for ids in ([mine.pk, theirs.pk], [theirs.pk], [mine.pk, uuid.uuid4()], ["not-an-id"]):
        error = refused(user, ids, error=FileNotFound)
        assert (error.status_code, error.detail) == (404, "File not found.")


def test_images_are_refused_only_for_a_model_without_images(user):
    note = stored(user, b"note", "note.txt")
    image = image_of(user)

    assert check(user, [note.pk], accepts_images=False).files == (note,)
    assert check(user, [image.pk], accepts_images=True).files == (image,)
    error = refused(user, [note.pk, image.pk], accepts_images=False)
    assert (error.detail, error.field) == (NO_IMAGES, "attachments")


# --- What they cost -----------------------------------------------------------------------


def test_documents_cost_their_blocks_and_each_image_765_tokens(user):
    note = stored(user, b"Revenue: 12", "q3.csv")
    other = stored(user, b"Costs: 3", "costs.csv")
    images = [image_of(user, "a.png"), image_of(user, "b.png")]

    attached = attaching.Attached((images[0], note, images[1], other))

    assert attached.documents == [note, other]
    assert attached.images == images
    assert attached.tokens == (
        count_tokens('<file name="q3.csv">\nRevenue: 12\n</file>')
        + count_tokens('<file name="costs.csv">\nCosts: 3\n</file>')
        + 2 * 765
    )


def test_the_budget_passes_an_exact_fit_and_refuses_one_token_less(user):
    attached = attaching.Attached((stored(user, b"word " * 50, "long.txt"), image_of(user)))
    needed = attached.tokens

    attaching.check_budget(attached=attached, available=needed)
    with pytest.raises(InvalidInput) as refusal:
        attaching.check_budget(attached=attached, available=needed - 1)

    assert refusal.value.field == "attachments"
    assert refusal.value.detail == (
        f"The attachments need {needed} tokens but only {needed - 1} are available in this "
        "model's context. Attach fewer or shorter files."
    )


# --- The links ----------------------------------------------------------------------------


def test_attach_links_each_file_at_its_position(user):
    message = user_message(user)
    note, image = stored(user, b"note", "note.txt"), image_of(user)

    attaching.attach(message=message, attached=attaching.Attached((image, note)))

    links = MessageAttachment.objects.order_by("position").values_list(
        "message", "file", "position"
    )
    assert list(links) == [(message.pk, image.pk, 0), (message.pk, note.pk, 1)]


def test_a_file_gone_since_the_check_is_not_found_and_the_send_must_roll_back(user):
    message = user_message(user)
    note, gone = stored(user, b"note", "note.txt"), stored(user, b"gone", "gone.txt")
    StoredFile.objects.filter(pk=gone.pk).delete()

    with transaction.atomic():
        with pytest.raises(FileNotFound):
            attaching.attach(message=message, attached=attaching.Attached((note, gone)))
        assert transaction.get_rollback()  # nothing of the send can be committed
        transaction.set_rollback(False)
        assert not MessageAttachment.objects.exists()


# --- What the model gets ------------------------------------------------------------------


def test_documents_follow_the_text_marked_by_name(user):
    attached = attaching.Attached(
        (stored(user, b"Revenue: 12", "q3.csv"), stored(user, b"Costs: 3", "c.csv"))
    )

    content = attaching.model_content(text="Summarize", attached=attached)

    assert content == (
        'Summarize\n\n<file name="q3.csv">\nRevenue: 12\n</file>\n\n'
        '<file name="c.csv">\nCosts: 3\n</file>'
    )


def test_images_are_data_url_parts_after_the_text_by_default(user):
    note = stored(user, b"Revenue: 12", "q3.csv")
    images = [image_of(user, "a.png"), stored(user, samples.image_bytes("JPEG"), "b.jpg")]
    attached = attaching.Attached((images[0], note, images[1]))

    content = attaching.model_content(text="Compare", attached=attached)

    def url(file, kind):
        return f"data:{kind};base64," + base64.b64encode(stored_bytes(file)).decode()

    assert content == [
        {"type": "text", "text": 'Compare\n\n<file name="q3.csv">\nRevenue: 12\n</file>'},
        {"type": "image_url", "image_url": {"url": url(images[0], "image/png")}},
        {"type": "image_url", "image_url": {"url": url(images[1], "image/jpeg")}},
    ]
    assert attaching.data_url(images[0]) == url(images[0], "image/png")


def test_a_model_without_images_reads_a_note_for_each_image(user):
    attached = attaching.Attached(
        (image_of(user, "a.png"), stored(user, b"Revenue: 12", "q3.csv"), image_of(user, "b.png"))
    )

    content = attaching.model_content(text="Look", attached=attached, accepts_images=False)

    assert content == (
        'Look\n\n<file name="q3.csv">\nRevenue: 12\n</file>\n\n'
        '<image name="a.png">(not shown: this model does not accept images)</image>\n\n'
        '<image name="b.png">(not shown: this model does not accept images)</image>'
    )


def test_a_context_without_files_is_returned_as_it_is_without_a_query(
    user, django_assert_num_queries
):
    context = Context(messages=[{"role": "user", "content": "Hi"}], prompt_tokens=3)

    with django_assert_num_queries(0):
        assert attaching.with_files(context) is context


@pytest.mark.parametrize(
    ("entry", "images_shown"),
    [(None, True), (model(vision=True), True), (model(vision=False), False)],
)
def test_a_context_gets_the_files_of_stored_and_sent_messages_in_one_query(
    user, other_user, django_assert_num_queries, entry, images_shown
):
    earlier = user_message(user)
    theirs = user_message(other_user)
    note, image = stored(user, b"Revenue: 12", "q3.csv"), image_of(user, "a.png")
    attaching.attach(message=earlier, attached=attaching.Attached((note, image)))
    attaching.attach(
        message=theirs, attached=attaching.Attached((stored(other_user, b"x", "x.txt"),))
    )
    sending = attaching.Attached((stored(user, b"Costs: 3", "c.csv"),))
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Earlier"},
        {"role": "assistant", "content": "Answer"},
        {"role": "user", "content": "Now"},
    ]
    context = Context(
        messages=messages, prompt_tokens=50, model=entry, files=((1, earlier.pk), (3, sending))
    )

    with django_assert_num_queries(1):
        result = attaching.with_files(context)

    earlier_text = 'Earlier\n\n<file name="q3.csv">\nRevenue: 12\n</file>'
    if images_shown:
        earlier_content = [
            {"type": "text", "text": earlier_text},
            {"type": "image_url", "image_url": {"url": attaching.data_url(image)}},
        ]
    else:
        earlier_content = earlier_text + "\n\n" + attaching.image_note(image)
    assert result.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": earlier_content},
        {"role": "assistant", "content": "Answer"},
        {"role": "user", "content": 'Now\n\n<file name="c.csv">\nCosts: 3\n</file>'},
    ]
    assert (result.files, result.prompt_tokens, result.model) == ((), 50, entry)
    assert messages[1] == {"role": "user", "content": "Earlier"}  # the caller's list unchanged


def test_files_only_being_sent_need_no_query(user, django_assert_num_queries):
    sending = attaching.Attached((stored(user, b"Costs: 3", "c.csv"),))
    context = Context(
        messages=[{"role": "user", "content": "Now"}], prompt_tokens=5, files=((0, sending),)
    )

    with django_assert_num_queries(0):
        result = attaching.with_files(context)

    assert result.messages == [
        {"role": "user", "content": 'Now\n\n<file name="c.csv">\nCosts: 3\n</file>'}
    ]
