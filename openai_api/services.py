"""A chat completion as a stored conversation, through conversations' send door.

Without a conversation id, a new conversation is made from the request (its system
messages the instructions, its earlier user and assistant messages the history) and the
last user message goes through ``check_send`` in the same transaction, so a send the door
refuses (rate, quota, a message that cannot fit) leaves nothing. With an id, only that last
message is sent, into the caller's conversation; the stored history is the context.

Image parts become the user's stored files (typed and re-encoded by ``attachments``),
attached to the messages that held them; a refused request leaves none behind.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from attachments import attaching
from attachments import services as files
from attachments.content import image_format
from attachments.errors import FileInUse, FileNotFound
from attachments.models import StoredFile
from catalogue.entries import ModelEntry
from catalogue.selectors import models_for
from conversations import services
from conversations.context import count_tokens
from conversations.db import run_db
from conversations.errors import MessageBlocked, ModerationUnavailable
from conversations.models import ChatSession, Message
from conversations.services import CheckedSend, Turn
from core.errors import ChatError
from openai_api.errors import OpenAIError
from openai_api.requests import ChatMessage, CompletionRequest

INSTRUCTIONS_MAX_CHARS = 20_000


@dataclass(frozen=True)
class CheckedCompletion:
    """A completion the door accepted: its send, and the new conversation it made, if any."""

    send: CheckedSend
    session_id: object
    new_session: bool
    files: tuple[StoredFile, ...] = field(default=())  # stored from the request's images
    # A new conversation's earlier images, as data URLs for the content check.
    earlier_images: tuple[str, ...] = ()


def usable_models(*, user) -> list[ModelEntry]:
    """The models ``user`` may use, the default first (the catalogue's answer)."""
    return models_for(user)


def check_model(*, user, model: str) -> ModelEntry:
    """The model a request names, or OpenAI's 404 (unknown, disabled and another group's
    are the same answer, so a restricted model's existence is not revealed)."""
    for entry in usable_models(user=user):
        if entry.id == model:
            return entry
    raise OpenAIError(
        f"The model '{model}' does not exist or you do not have access to it.",
        status=404,
        param="model",
        code="model_not_found",
    )


def check_completion(
    *, user, request: CompletionRequest, model: ModelEntry, session_id=None
) -> CheckedCompletion:
    """Check (and, when the door can, store) a completion on a database thread."""
    # The request's earlier messages are not trusted in a conversation that exists: the
    # stored history is the context.
    last = len(request.messages) - 1
    used = range(last, last + 1) if session_id is not None else range(last + 1)
    images = {index: request.messages[index].images for index in used}
    images = {index: parts for index, parts in images.items() if parts}
    if images and not model.vision:
        first = next(iter(images.values()))[0]
        raise OpenAIError(
            f"The model '{model.id}' does not accept images ('{first.param}'): remove the "
            "image parts or choose a model that accepts images.",
            param="messages",
            code="images_not_supported",
        )
    stored = _store_images(user=user, images=images)
    kept = tuple(file for stored_files in stored.values() for file in stored_files)
    try:
        if session_id is not None:
            send = _check_send(
                user=user, request=request, session_id=session_id, files=stored.get(last)
            )
            return CheckedCompletion(
                send=send, session_id=session_id, new_session=False, files=kept
            )
        with transaction.atomic():
            session = _conversation_from_request(user=user, request=request, stored=stored)
            send = _check_send(
                user=user, request=request, session_id=session.pk, files=stored.get(last)
            )
        earlier = _earlier_images(stored, last=last) if send.turn is None else ()
    except BaseException:
        _forget(user=user, stored=kept)
        raise
    return CheckedCompletion(
        send=send, session_id=session.pk, new_session=True, files=kept, earlier_images=earlier
    )


def _earlier_images(stored: dict[int, list[StoredFile]], *, last: int) -> tuple[str, ...]:
    """The earlier messages' images as data URLs, for their content check."""
    return tuple(
        attaching.data_url(file)
        for index, found in stored.items()
        if index != last
        for file in found
    )


def _check_send(*, user, request: CompletionRequest, session_id, files) -> CheckedSend:
    return services.check_send(
        user=user,
        text=request.question,
        session_id=session_id,
        model=request.model,
        attachments=[file.pk for file in files] if files else None,
    )


def _store_images(*, user, images: dict[int, tuple]) -> dict[int, list[StoredFile]]:
    """The images of each message (by position) as the user's files, each refused naming
    where it was in the request; none are left when one is refused."""
    stored: dict[int, list[StoredFile]] = {}
    try:
        for index, parts in images.items():
            for number, image in enumerate(parts, start=1):
                extension = (image_format(image.data[:16]) or "png").lower()
                upload = ContentFile(image.data, name=f"image-{index + 1}-{number}.{extension}")
                try:
                    file = files.upload_file(user=user, upload=upload)
                except ChatError as exc:
                    # A damaged image, or another type than it claims, is the request's
                    # fault (400, as OpenAI answers); a size or the storage quota keeps 413.
                    raise OpenAIError(
                        f"'{image.param}': {exc.detail}",
                        status=400 if exc.status_code == 415 else exc.status_code,
                        param=image.param,
                        code=exc.code,
                    ) from None
                stored.setdefault(index, []).append(file)
    except BaseException:
        _forget(user=user, stored=[file for found in stored.values() for file in found])
        raise
    return stored


def _forget(*, user, stored) -> None:
    """Delete the request's files that no message holds (its send was refused)."""
    for file in stored:
        # One attached to a message that was kept stays, as does its message.
        with suppress(FileInUse, FileNotFound):
            files.delete_file(user=user, file_id=file.pk)


async def finish_completion(checked: CheckedCompletion, *, request: CompletionRequest) -> Turn:
    """The stored turn: the content checks and the store still to do, if any.

    The earlier user messages of a new conversation are checked as its last one is (in
    block mode, a flagged one must not reach the model either). A new conversation whose
    message is then refused without being stored (a rate, the quota, a flagged earlier
    message) is deleted, as if the request had never come (``conversation_kept``)."""
    try:
        if checked.new_session:
            await _check_earlier_messages(request, images=checked.earlier_images)
        return await services.finish_send(checked.send)
    except (ChatError, OpenAIError) as exc:
        if not conversation_kept(checked, exc):
            await _discard(checked)
        if checked.files:
            await run_db(_forget, user=checked.send.user, stored=checked.files)
        raise


def conversation_kept(checked: CheckedCompletion, exc: Exception) -> bool:
    """Whether a refused completion leaves its conversation: one that existed, one whose
    message was stored already, or one whose message was refused by moderation (kept for
    moderators)."""
    return (
        not checked.new_session
        or checked.send.turn is not None
        or isinstance(exc, MessageBlocked | ModerationUnavailable)
    )


async def _check_earlier_messages(request: CompletionRequest, *, images: tuple[str, ...]) -> None:
    earlier = [m.content for m in request.history if m.role == Message.Role.USER]
    if not earlier:
        return
    check = await services.check_content("\n\n".join(earlier), images=images)
    refusal = check.refusal()
    if isinstance(refusal, MessageBlocked):
        raise OpenAIError(
            "An earlier message in 'messages' may break the usage policy; nothing was stored.",
            param="messages",
            code="content_policy_violation",
        )
    if refusal is not None:
        raise OpenAIError(
            refusal.detail, status=503, type="server_error", code="moderation_unavailable"
        )


async def _discard(checked: CheckedCompletion) -> None:
    await run_db(services.delete_session, user=checked.send.user, session_id=checked.session_id)


def _conversation_from_request(
    *, user, request: CompletionRequest, stored: dict[int, list[StoredFile]]
) -> ChatSession:
    """A new conversation holding the request's instructions and earlier turns (with the
    files ``stored`` from their images, by position in ``request.messages``), its last
    earlier message the current leaf (the message sent next continues it)."""
    instructions = request.instructions
    if len(instructions) > INSTRUCTIONS_MAX_CHARS:
        raise OpenAIError(
            f"The system messages are too long: {len(instructions)} characters, the limit "
            f"is {INSTRUCTIONS_MAX_CHARS}.",
            param="messages",
        )
    now = timezone.now()
    session = ChatSession.objects.create(
        user=user, model=request.model, instructions=instructions, created_at=now, updated_at=now
    )
    history: list[Message] = []
    attached: list[tuple[Message, attaching.Attached]] = []
    for index, item in enumerate(request.messages[:-1]):
        if item.role == "system":
            continue
        message_files = attaching.Attached(tuple(stored.get(index, ())))
        message = _history_message(
            session=session,
            parent=history[-1] if history else None,
            item=item,
            files=message_files,
            model=request.model,
            now=now,
        )
        history.append(message)
        if message_files.files:
            attached.append((message, message_files))
    if history:
        Message.objects.bulk_create(history)
        for message, message_files in attached:
            attaching.attach(message=message, attached=message_files)
        ChatSession.objects.filter(pk=session.pk).update(current_message=history[-1])
        session.current_message = history[-1]
    return session


def _history_message(
    *, session, parent, item: ChatMessage, files: attaching.Attached, model: str, now
) -> Message:
    return Message(
        session=session,
        parent_id=parent.pk if parent else None,
        sequence=parent.sequence + 1 if parent else 1,
        role=item.role,
        content=item.content,
        # As a sent message's: its files' tokens counted in.
        token_count=count_tokens(item.content) + files.tokens,
        model=model if item.role == Message.Role.ASSISTANT else "",
        created_at=now,
        updated_at=now,
    )
