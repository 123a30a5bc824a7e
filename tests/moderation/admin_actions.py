"""Driving admin changelist actions the way the changelist's form does."""

from __future__ import annotations

from django.http import HttpResponse
from django.test import Client


def changelist_action(client: Client, url: str, action: str, objects) -> HttpResponse:
    """POST an admin changelist action for ``objects``, as the changelist's form does."""
    return client.post(
        url,
        {"action": action, "_selected_action": [str(obj.pk) for obj in objects], "index": 0},
    )
