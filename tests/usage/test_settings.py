"""Settings shows the user's tokens today and this month by model, against their budgets."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from tests.factories import ChatSessionFactory, UserFactory
from tests.usage.factories import reply
from usage.models import GroupBudget

pytestmark = pytest.mark.django_db


@pytest.fixture
def now(monkeypatch):
    """Settings read on 15 March 2026 at noon UTC."""
    from django.utils import timezone

    from tests.usage.factories import at

    monkeypatch.setattr(timezone, "now", lambda: at("2026-03-15 12:00"))


def settings_page(user) -> str:
    client = Client()
    client.force_login(user)
    response = client.get("/settings/")
    assert response.status_code == 200
    return response.content.decode()


def section(html: str) -> str:
    return html[html.index('id="usage"') : html.index("</section>", html.index('id="usage"'))]


def test_usage_section_sums_today_and_this_month_by_model(user, now, settings):
    settings.CHATBOT_DAILY_TOKEN_QUOTA = 1_000
    session = ChatSessionFactory(user=user)
    reply(session, "2026-03-15 00:00", prompt_tokens=100, completion_tokens=20)
    reply(session, "2026-03-15 11:00", model="model-b", prompt_tokens=300, completion_tokens=30)
    reply(session, "2026-03-14 23:59:59", prompt_tokens=200, completion_tokens=2)
    reply(session, "2026-03-01 00:00", prompt_tokens=5, completion_tokens=1)
    reply(session, "2026-02-28 23:59:59", prompt_tokens=7_000)  # last month
    reply(ChatSessionFactory(user=UserFactory()), "2026-03-15 10:00", prompt_tokens=9_000)

    usage = section(settings_page(user))

    assert "Today: 450 tokens of 1000" in usage
    assert "This month: 658 tokens (no limit)" in usage
    rows = usage[usage.index('id="usage-by-model"') :]
    assert (
        '<td>model-a</td><td data-label="Today">120</td><td data-label="This month">328</td>'
        in rows
    )
    assert (
        '<td>model-b</td><td data-label="Today">330</td><td data-label="This month">330</td>'
        in rows
    )
    assert "9000" not in usage and "7000" not in usage
    assert "<title>model-a: 120</title>" in usage
    assert "style=" not in usage and "<script" not in usage


def test_usage_section_shows_the_group_budgets(user, now):
    group = Group.objects.create(name="research")
    GroupBudget.objects.create(group=group, daily_tokens=2_000, monthly_tokens=30_000)
    user.groups.add(group)

    usage = section(settings_page(user))

    assert "Today: 0 tokens of 2000" in usage
    assert "This month: 0 tokens of 30000" in usage
    assert "No replies this month yet." in usage
