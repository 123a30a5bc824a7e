"""Token budgets per group and per user: a user's is the most generous of their groups',
else the global daily quota, capped by their own where set; budgets are set in admin."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.backends.utils import CursorWrapper
from django.test import Client

from tests.api.conftest import bearer_client
from tests.factories import UserFactory
from usage.budgets import daily_budget_for, monthly_budget_for
from usage.models import GroupBudget, UserBudget

pytestmark = pytest.mark.django_db


def group_with(name: str, **budget) -> Group:
    group = Group.objects.create(name=name)
    if budget:
        GroupBudget.objects.create(group=group, **budget)
    return group


@pytest.fixture(autouse=True)
def _quota(settings):
    settings.CHATBOT_DAILY_TOKEN_QUOTA = 5_000


def test_a_user_in_no_group_with_a_budget_has_the_global_quota(user):
    user.groups.add(group_with("no budget"), group_with("monthly only", monthly_tokens=90_000))

    assert daily_budget_for(user) == 5_000
    assert daily_budget_for(UserFactory()) == 5_000


def test_the_most_generous_group_budget_wins_even_under_the_global_quota(user):
    user.groups.add(group_with("small", daily_tokens=1_000), group_with("less", daily_tokens=3_000))
    UserFactory().groups.add(group_with("not theirs", daily_tokens=50_000))

    assert daily_budget_for(user) == 3_000
    assert daily_budget_for(user.pk) == 3_000  # as the send path holds only the id


def test_a_group_budget_applies_when_the_global_quota_is_off(user, settings):
    settings.CHATBOT_DAILY_TOKEN_QUOTA = 0
    user.groups.add(group_with("capped", daily_tokens=2_000))

    assert daily_budget_for(user) == 2_000
    assert daily_budget_for(UserFactory()) == 0  # no limit


def test_monthly_budget_is_the_largest_of_the_groups_or_none(user):
    assert monthly_budget_for(user) is None
    user.groups.add(
        group_with("a", monthly_tokens=10_000),
        group_with("b", monthly_tokens=40_000, daily_tokens=100),
        group_with("c", daily_tokens=200),
    )

    assert monthly_budget_for(user) == 40_000
    assert daily_budget_for(user) == 200


@pytest.mark.parametrize(
    "budget",
    [{}, {"daily_tokens": 0}, {"monthly_tokens": 0, "daily_tokens": 10}],
    ids=["neither", "zero a day", "zero a month"],
)
def test_a_budget_sets_a_positive_limit(budget):
    group = Group.objects.create(name="g")
    with pytest.raises(IntegrityError), transaction.atomic():
        GroupBudget.objects.create(group=group, **budget)


def test_budgets_are_set_in_admin():
    admin = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    group = Group.objects.create(name="research")

    response = client.post(
        "/admin/usage/groupbudget/add/",
        {"group": group.pk, "daily_tokens": "20000", "monthly_tokens": ""},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    budget = GroupBudget.objects.get(group=group)
    assert (budget.daily_tokens, budget.monthly_tokens) == (20_000, None)
    member = UserFactory()
    member.groups.add(group)
    assert daily_budget_for(member) == 20_000


def test_admin_refuses_a_budget_of_zero():
    admin = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    group = Group.objects.create(name="research")

    response = client.post(
        "/admin/usage/groupbudget/add/", {"group": group.pk, "daily_tokens": "0"}
    )

    assert response.status_code == 200
    assert "Ensure this value is greater than or equal to 1." in response.content.decode()
    assert not GroupBudget.objects.exists()


def test_admin_asks_for_at_least_one_budget():
    admin = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    group = Group.objects.create(name="research")

    response = client.post("/admin/usage/groupbudget/add/", {"group": group.pk})

    assert response.status_code == 200
    assert "Set a daily budget, a monthly budget or both." in response.content.decode()
    assert not GroupBudget.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_group_budget_caps_sends_where_the_global_quota_does_not(user, upstream, settings):
    settings.CHATBOT_DAILY_TOKEN_QUOTA = 0
    user.groups.add(group_with("capped", daily_tokens=40))
    capped, free = bearer_client(user), bearer_client(UserFactory())

    def send(client, text):
        return client.post("/api/chat", {"message": text}, content_type="application/json")

    # A send is refused once its prompt (about 30 tokens here) no longer fits in the 40.
    assert send(capped, "use up the allowance please").status_code == 200
    refused = send(capped, "one more")
    assert refused.status_code == 429
    assert refused.json()["code"] == "quota_exceeded"
    for text in ("use up the allowance please", "one more"):
        assert send(free, text).status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("quota", [0, 100_000], ids=["quota off", "daily quota"])
def test_a_send_reads_no_budget_while_none_exists(user, upstream, settings, monkeypatch, quota):
    settings.CHATBOT_RATE_LIMIT = None
    settings.CHATBOT_DAILY_TOKEN_QUOTA = quota
    api = bearer_client(user)

    def send() -> list[str]:
        sql: list[str] = []  # from every thread: the send path queries on its own
        original = CursorWrapper._execute

        def recording(cursor, query, *args):
            sql.append(query)
            return original(cursor, query, *args)

        with monkeypatch.context() as patch:
            patch.setattr(CursorWrapper, "_execute", recording)
            sent = api.post("/api/chat", {"message": "hello"}, content_type="application/json")
        assert sent.status_code == 200, sent.content
        assert any("conversations_message" in query for query in sql)
        return [query for query in sql if "usage_" in query]

    assert send()  # the first learns that no budget exists
    assert send() == []
    assert send() == []


def test_a_users_own_budget_applies_beside_their_groups_the_stricter_binding(user, settings):
    user.groups.add(group_with("team", daily_tokens=3_000, monthly_tokens=50_000))
    assert (daily_budget_for(user), monthly_budget_for(user)) == (3_000, 50_000)

    own = UserBudget.objects.create(user=user, daily_tokens=1_000)
    assert (daily_budget_for(user), monthly_budget_for(user)) == (1_000, 50_000)

    own.daily_tokens, own.monthly_tokens = 10_000, 20_000
    own.save()
    assert (daily_budget_for(user), monthly_budget_for(user)) == (3_000, 20_000)

    own.delete()
    assert (daily_budget_for(user), monthly_budget_for(user)) == (3_000, 50_000)


def test_a_users_own_budget_without_groups_caps_the_global_quota(user, settings):
    UserBudget.objects.create(user=user, monthly_tokens=7_000)
    assert (daily_budget_for(user), monthly_budget_for(user)) == (5_000, 7_000)
    settings.CHATBOT_DAILY_TOKEN_QUOTA = 0
    UserBudget.objects.filter(user=user).update(daily_tokens=900)  # no signal: a new read
    cache.clear()
    assert (daily_budget_for(user), monthly_budget_for(user)) == (900, 7_000)
    assert (daily_budget_for(UserFactory()), monthly_budget_for(UserFactory())) == (0, None)


def test_user_budgets_are_set_in_admin(user):
    admin = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)

    response = client.post(
        "/admin/usage/userbudget/add/",
        {"user": user.pk, "daily_tokens": "", "monthly_tokens": "40000"},
    )
    refused = client.post("/admin/usage/userbudget/add/", {"user": UserFactory().pk})

    assert response.status_code == 302, response.content.decode()[:2000]
    assert monthly_budget_for(user) == 40_000
    assert refused.status_code == 200
    assert "Set a daily budget, a monthly budget or both." in refused.content.decode()
