"""``manage.py fail_stale_replies``: every user's dead replies stored failed and counted
once; live, finished and fresh replies untouched."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from conversations.models import Message
from tests.factories import ChatSessionFactory, MessageFactory, UserFactory
from usage.models import DailyUsage

pytestmark = pytest.mark.django_db


def reply(user, *, status: str, quiet_for: float) -> Message:
    message = MessageFactory(
        session=ChatSessionFactory(user=user),
        role=Message.Role.ASSISTANT,
        status=status,
        model="m",
    )
    Message.objects.filter(pk=message.pk).update(
        updated_at=timezone.now() - timedelta(seconds=quiet_for)
    )
    return message


def test_the_sweep_fails_every_users_dead_replies_once_and_counts_them(settings):
    dead_after = settings.CHATBOT_STREAM_STALE_AFTER
    user, other = UserFactory(), UserFactory()
    dead = [reply(user, status="streaming", quiet_for=dead_after + 5)]
    dead.append(reply(other, status="streaming", quiet_for=dead_after + 60))
    alive = reply(user, status="streaming", quiet_for=0)
    finished = reply(other, status="complete", quiet_for=dead_after + 60)
    output = io.StringIO()

    call_command("fail_stale_replies", stdout=output)
    call_command("fail_stale_replies", stdout=io.StringIO())

    assert output.getvalue() == "Stored 2 stale reply(ies) as failed.\n"
    statuses = dict(Message.objects.values_list("pk", "status"))
    assert {statuses[m.pk] for m in dead} == {"failed"}
    assert (statuses[alive.pk], statuses[finished.pk]) == ("streaming", "complete")
    counted = DailyUsage.objects.values_list("user_id", "messages", "failed")
    assert sorted(counted) == sorted([(user.pk, 1, 1), (other.pk, 1, 1)])
