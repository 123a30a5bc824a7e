"""Files on a message, as the send path uses them: which files a send may attach, and what
the model receives for them (a document's text with the message, marked with its name; an
image as an image content part holding a data URL)."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, replace

from django.db import transaction

from attachments import selectors
from attachments.errors import FileNotFound
from attachments.models import MessageAttachment, StoredFile
from attachments.storage import file_storage
from conversations.context import Context, count_tokens
from core.errors import InvalidInput

MAX_ATTACHMENTS = 10
# What an image costs in the prompt, counted ahead: OpenAI's high-detail price of a
# 512-pixel tile plus its base, a fair bound for the sizes people paste.
IMAGE_TOKENS = 765


@dataclass(frozen=True)
class Attached:
    """The checked files of one send, in the order given, and what they cost the prompt."""

    files: tuple[StoredFile, ...] = ()

    @property
    def documents(self) -> list[StoredFile]:
        return [file for file in self.files if file.kind == StoredFile.Kind.DOCUMENT]

    @property
    def images(self) -> list[StoredFile]:
        return [file for file in self.files if file.kind == StoredFile.Kind.IMAGE]

    @property
    def tokens(self) -> int:
        return sum(count_tokens(document_block(file)) for file in self.documents) + (
            IMAGE_TOKENS * len(self.images)
        )


def check_attachments(*, user, file_ids, accepts_images: bool) -> Attached:
    """The caller's files ``file_ids`` (at most ten, no repeats): another user's or a
    missing id is a 404; an image for a model that takes no images a 400 naming the field."""
    if not file_ids:
        return Attached()
    if not isinstance(file_ids, list) or len(file_ids) > MAX_ATTACHMENTS:
        raise InvalidInput(
            f"Send at most {MAX_ATTACHMENTS} file ids as a list.", field="attachments"
        )
    file_ids = [_file_id(value) for value in file_ids]
    if len(set(file_ids)) != len(file_ids):
        raise InvalidInput("A file is attached twice.", field="attachments")
    found = {file.pk: file for file in StoredFile.objects.filter(owner=user, pk__in=file_ids)}
    if len(found) != len(file_ids):
        raise FileNotFound()
    files = tuple(found[file_id] for file_id in file_ids)
    attached = Attached(files)
    if attached.images and not accepts_images:
        raise InvalidInput(
            "This model does not accept images: remove the images from the attachments or "
            "choose a model that accepts them.",
            field="attachments",
        )
    return attached


def _file_id(value) -> uuid.UUID:
    """A file id from client input: not text is a 400; text that is no id is an unknown
    file (404), as a missing one is."""
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        raise InvalidInput("Each attachment must be a file id.", field="attachments")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise FileNotFound() from None


def check_budget(*, attached: Attached, available: int) -> None:
    """Refuse, saying the numbers, attachments that do not fit the tokens ``available``:
    never a silent cut."""
    needed = attached.tokens
    if needed > available:
        raise InvalidInput(
            f"The attachments need {needed} tokens but only {available} are available in "
            "this model's context. Attach fewer or shorter files.",
            field="attachments",
        )


def attach(*, message, attached: Attached) -> None:
    """Link the files to ``message`` (inside the send's transaction). A file deleted since
    the check (the daily sweep of unattached uploads) is a 404 and the send stores nothing."""
    # The lock orders this send against the sweep, which locks the same rows before it
    # deletes: it waits and then sees the link, or it went first and the file is gone.
    with transaction.atomic(savepoint=False):
        present = StoredFile.objects.select_for_update().filter(
            pk__in=[file.pk for file in attached.files]
        )
        if len(present) != len(attached.files):
            raise FileNotFound()
        MessageAttachment.objects.bulk_create(
            MessageAttachment(message=message, file=file, position=position)
            for position, file in enumerate(attached.files)
        )


def document_block(file: StoredFile) -> str:
    return f'<file name="{file.name}">\n{file.text}\n</file>'


def image_note(file: StoredFile) -> str:
    return f'<image name="{file.name}">(not shown: this model does not accept images)</image>'


def model_content(
    *, text: str, attached: Attached, accepts_images: bool = True
) -> str | list[dict]:
    """The user message as the model receives it: the documents' text after the message;
    with images, a list of content parts (text, then each image as a data URL). A model
    that takes no images (the conversation switched to it later) reads a note instead."""
    blocks = [text, *(document_block(file) for file in attached.documents)]
    if not accepts_images:
        blocks.extend(image_note(file) for file in attached.images)
    combined = "\n\n".join(blocks)
    if not attached.images or not accepts_images:
        return combined
    return [
        {"type": "text", "text": combined},
        *({"type": "image_url", "image_url": {"url": data_url(file)}} for file in attached.images),
    ]


def data_url(file: StoredFile) -> str:
    with file_storage().open(file.key, "rb") as handle:
        encoded = base64.b64encode(handle.read()).decode("ascii")
    return f"data:{file.content_type};base64,{encoded}"


def with_files(context: Context) -> Context:
    """``context`` with the files of its messages in them (``Context.files``): one query
    for the stored messages' files, none when no message that fits has any."""
    if not context.files:
        return context
    stored = [files for _, files in context.files if not isinstance(files, Attached)]
    by_message = selectors.files_by_message(stored) if stored else {}
    accepts_images = context.model is None or context.model.vision
    messages = list(context.messages)
    for position, files in context.files:
        attached = files if isinstance(files, Attached) else Attached(tuple(by_message[files]))
        content = model_content(
            text=messages[position]["content"], attached=attached, accepts_images=accepts_images
        )
        messages[position] = {**messages[position], "content": content}
    return replace(context, messages=messages, files=())
