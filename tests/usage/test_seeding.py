"""``seed_usage`` writes the data the dashboard is measured on: the messages asked for, as
conversations of questions and replies by new users in groups, over the days asked for;
``measure_usage`` reports the dashboard's and the API's times and queries over it."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, F, Max, Min
from django.utils import timezone

from conversations.models import ChatSession, Message
from sharing.models import MessageFeedback

pytestmark = pytest.mark.django_db


def test_seed_usage_writes_conversations_of_questions_and_replies():
    out = StringIO()

    call_command(
        "seed_usage", "--messages=2000", "--users=30", "--groups=4", "--days=20", stdout=out
    )

    assert "2000 messages (1000 replies" in out.getvalue()
    seeded = get_user_model().objects.filter(username__startswith="seed-")
    assert seeded.count() == 30
    assert seeded.filter(groups__isnull=True).count() == 0
    assert seeded.values("groups").distinct().count() == 4
    messages = Message.objects.all()
    assert messages.count() == 2000
    assert messages.filter(role="assistant").count() == messages.filter(role="user").count()
    # Every reply answers a question of its own conversation, right before it.
    replies = messages.filter(role="assistant")
    assert replies.filter(parent__role="user", parent__session=F("session")).count() == 1000
    assert replies.filter(sequence=F("parent__sequence") + 1).count() == 1000
    sessions = ChatSession.objects.annotate(last=Max("messages__sequence"))
    assert all(
        s.current_message.sequence == s.last for s in sessions.select_related("current_message")
    )
    # Spread over the days and models, with failures, usage and times.
    days = replies.aggregate(first=Min("created_at"), last=Max("created_at"))
    today = timezone.now().date()
    assert days["first"].date() >= today - timedelta(days=19)
    assert days["last"].date() <= today
    assert replies.values("created_at__date").distinct().count() > 10
    by_model = dict(replies.values_list("model").annotate(n=Count("pk")))
    assert len(by_model) == 4
    failed = replies.filter(status="failed")
    assert 0 < failed.count() < 100
    assert not failed.filter(completion_tokens__isnull=False).exists()
    assert not replies.exclude(status="failed").filter(first_token_ms__isnull=True).exists()
    assert MessageFeedback.objects.exclude(message__role="assistant").count() == 0


def test_seed_usage_refuses_nonsense():
    with pytest.raises(CommandError, match="--messages must be at least 2"):
        call_command("seed_usage", "--messages=0")


def test_measure_usage_reports_time_and_queries_per_page():
    call_command("seed_usage", "--messages=200", "--users=5", "--days=3", stdout=StringIO())
    out = StringIO()

    call_command("measure_usage", "--runs=1", "--days", "3", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "200 messages; database " + connection.vendor + "; 1 runs each"
    assert lines[1].startswith("period ") and lines[1].endswith("(3 days, 100 replies):")
    assert [line.split(":")[0].split(" (")[0].strip() for line in lines[2:]] == [
        "admin dashboard",
        "dashboard CSV",
        "/api/usage",
    ]
    assert all(re.search(r"median \d+ ms .*, \d+ queries$", line) for line in lines[2:])
