"""The daily sweep of unattached uploads racing sends that attach them, over the real ASGI
server with parallel clients, on SQLite and on PostgreSQL: each send answers 200 with its
file linked and kept, or 404 with nothing stored; never a 500, never a link to a deleted
file."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
from django.db import connection
from django.utils import timezone

from accounts import services as account_services
from attachments import services as attachment_services
from attachments.models import MessageAttachment, StoredFile
from conversations.models import Message
from tests.attachments.samples import stored
from tests.factories import UserFactory, conversation

SENDS = 30
STAGGER = 0.03  # seconds between sweeps


def sweep(file_id: str | None = None, *, after: float = 0) -> int:
    """The daily sweep as run a day later (every unattached upload is abandoned then), of
    one file or of all, ``after`` seconds."""
    time.sleep(after)
    try:
        if file_id is None:
            later = timezone.now() + timedelta(days=2)
            return attachment_services.delete_abandoned_files(now=later)
        one = StoredFile.objects.filter(pk=file_id)
        return attachment_services.delete_unattached_files(files=one)
    finally:
        connection.close()


def test_the_sweep_racing_sends_never_deletes_an_attached_file(live_app, upstream, settings):
    settings.CHATBOT_RATE_LIMIT = None
    user, other = UserFactory(), UserFactory()
    token = account_services.issue_token(user=user).token
    files = [str(stored(user, f"Note {n}".encode(), f"note-{n}.txt").pk) for n in range(SENDS)]
    others_file = stored(other, b"Not swept: attached", "kept.txt")
    theirs = conversation(other, turns=1).messages.get(role="user")
    MessageAttachment.objects.create(message=theirs, file=others_file, position=0)

    async def race():
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=live_app, headers=headers, timeout=60) as api:
            # Each file's sweep starts a little later than the one before, so that the
            # first ones beat their sends and the last ones come after them, and some
            # land while their send is between its check and its link.
            sends = [
                api.post("/api/chat", json={"message": f"Read {n}", "attachments": [file_id]})
                for n, file_id in enumerate(files)
            ]
            sweeps = [
                asyncio.to_thread(sweep, file_id, after=n * STAGGER)
                for n, file_id in enumerate(files)
            ]
            return await asyncio.gather(*sends, *sweeps)

    outcomes = asyncio.run(race())
    responses, swept = outcomes[:SENDS], outcomes[SENDS:]
    left_after = sweep()

    failures = [(r.status_code, r.text[:300]) for r in responses if r.status_code not in (200, 404)]
    assert not failures, failures
    sent = {file_id for file_id, r in zip(files, responses, strict=True) if r.status_code == 200}
    refused = [r for r in responses if r.status_code == 404]
    assert all(r.json()["detail"] == "File not found." for r in refused)
    # Each file went one way: linked to its send's message and kept, or swept and its send
    # refused with no message stored; a later full sweep takes none of the linked files.
    assert [count for count, file_id in zip(swept, files, strict=True) if file_id in sent] == [
        0
    ] * len(sent)
    assert sum(swept) == len(refused) == SENDS - len(sent)
    assert left_after == 0
    linked = MessageAttachment.objects.filter(message__session__user=user)
    assert {str(file_id) for file_id in linked.values_list("file_id", flat=True)} == sent
    owned = StoredFile.objects.filter(owner=user).values_list("pk", flat=True)
    assert {str(pk) for pk in owned} == sent
    assert Message.objects.filter(session__user=user, role="user").count() == len(sent)
    assert StoredFile.objects.filter(pk=others_file.pk).exists()
