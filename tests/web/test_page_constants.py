"""Status names and close codes reach the page's script from the server: rendered from the
Python constants on the chat page's root element, never repeated as literals in chat.js."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from conversations import events
from conversations.models import Message

CHAT_JS = Path(settings.BASE_DIR) / "static" / "js" / "chat.js"


@pytest.mark.django_db
def test_the_chat_page_carries_every_status_and_close_code(user):
    client = Client()
    client.force_login(user)
    page = client.get(reverse("chat")).content.decode()
    root = re.search(r'<div class="chat-layout" id="chat-app"(.*?)>', page, re.DOTALL)[1]
    attributes = dict(re.findall(r'data-([\w-]+)="([^"]*)"', root))

    for status in Message.Status.values:
        assert attributes[f"status-{status}"] == status
    assert attributes["close-signed-out"] == str(events.SIGNED_OUT)
    assert attributes["close-access-ended"] == str(events.ACCESS_ENDED)


def test_chat_js_repeats_no_close_code_or_status_name():
    script = CHAT_JS.read_text()
    assert str(events.SIGNED_OUT) not in script and str(events.ACCESS_ENDED) not in script
    for status in Message.Status.values:
        assert f'"{status}"' not in script and f"'{status}'" not in script
