"""``usage.budgets`` asked directly, the cases mutation testing found unchecked: each user's
budgets are their own (a second user with other groups and an own budget is always
present), the global quota against group and own budgets at every combination, what is
cached and for how long (a frozen clock drives the local-memory cache), and when a change
starts a new generation (at once, and again once committed)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache

from conversations.limits import Budgets
from tests.factories import UserFactory
from usage import budgets
from usage.models import GroupBudget, UserBudget

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _local_cache(settings):
    """Local memory, whose expiry follows the frozen clock, and whose own default lifetime
    (an hour) is not the budgets': they must say theirs."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "usage-budget-tests",
            "TIMEOUT": 3_600,
        }
    }
    cache.clear()
    settings.CHATBOT_DAILY_TOKEN_QUOTA = 5_000


def member_of(user, name: str, **budget) -> Group:
    group = Group.objects.create(name=name)
    GroupBudget.objects.create(group=group, **budget)
    user.groups.add(group)
    return group


@pytest.fixture
def stranger(db):
    """Another user, generous groups and a strict own budget: none of it is anyone else's."""
    other = UserFactory()
    member_of(other, "theirs", daily_tokens=90_000, monthly_tokens=900_000)
    UserBudget.objects.create(user=other, daily_tokens=11, monthly_tokens=22)
    return other


def test_without_any_budget_everyone_has_the_global_daily_quota_and_no_monthly(user, settings):
    assert budgets.budgets_for(user) == Budgets(daily=5_000, monthly=None)
    assert budgets.budgets_for(user.pk) == Budgets(daily=5_000, monthly=None)
    settings.CHATBOT_DAILY_TOKEN_QUOTA = 0
    assert budgets.budgets_for(user) == Budgets(daily=0, monthly=None)


def test_each_users_budgets_are_their_own_by_object_or_id(user, stranger):
    member_of(user, "mine", daily_tokens=700, monthly_tokens=8_000)

    for who in (user, user.pk):
        assert budgets.budgets_for(who) == Budgets(daily=700, monthly=8_000)
    for who in (stranger, stranger.pk):
        assert budgets.budgets_for(who) == Budgets(daily=11, monthly=22)
    # Read again from the cache, in the other order: still each their own.
    assert budgets.budgets_for(stranger.pk) == Budgets(daily=11, monthly=22)
    assert budgets.budgets_for(user.pk) == Budgets(daily=700, monthly=8_000)
    assert budgets.budgets_for(UserFactory()) == Budgets(daily=5_000, monthly=None)


@pytest.mark.parametrize(
    ("quota", "group", "own", "expected"),
    [
        # quota, the group's (daily, monthly), the user's own (daily, monthly) -> Budgets
        (5_000, None, (900, None), Budgets(daily=900, monthly=None)),
        (5_000, None, (9_000, None), Budgets(daily=5_000, monthly=None)),
        (0, None, (900, None), Budgets(daily=900, monthly=None)),
        (0, None, (None, 70), Budgets(daily=0, monthly=70)),
        (5_000, None, (None, 70), Budgets(daily=5_000, monthly=70)),
        (5_000, (None, 400), None, Budgets(daily=5_000, monthly=400)),
        (5_000, (8_000, None), None, Budgets(daily=8_000, monthly=None)),
        (5_000, (8_000, 400), (9_000, 300), Budgets(daily=8_000, monthly=300)),
        (5_000, (8_000, 400), (7_000, 500), Budgets(daily=7_000, monthly=400)),
        (0, (8_000, None), (None, 1), Budgets(daily=8_000, monthly=1)),
    ],
)
def test_the_stricter_of_the_group_or_quota_and_the_own_budget_binds(
    user, stranger, settings, quota, group, own, expected
):
    settings.CHATBOT_DAILY_TOKEN_QUOTA = quota
    if group:
        member_of(user, "team", daily_tokens=group[0], monthly_tokens=group[1])
    if own:
        UserBudget.objects.create(user=user, daily_tokens=own[0], monthly_tokens=own[1])

    assert budgets.budgets_for(user) == expected
    assert budgets.daily_budget_for(user.pk) == expected.daily
    assert budgets.monthly_budget_for(user.pk) == expected.monthly


def test_the_stricter_of_two_limits_where_none_is_no_limit():
    assert budgets._stricter(None, None) is None
    assert budgets._stricter(None, 5) == 5
    assert budgets._stricter(5, None) == 5
    assert budgets._stricter(3, 4) == 3
    assert budgets._stricter(4, 3) == 3
    assert budgets._stricter(0, 3) == 3


def test_the_read_is_one_query_of_the_users_largest_group_budgets_and_own(
    user, stranger, django_assert_num_queries
):
    member_of(user, "a", daily_tokens=100, monthly_tokens=9_000)
    member_of(user, "b", daily_tokens=300)
    UserBudget.objects.create(user=user, monthly_tokens=6_000)

    with django_assert_num_queries(1):
        read = budgets._read(user.pk)

    assert read == {"daily": 300, "monthly": 9_000, "own_daily": None, "own_monthly": 6_000}
    assert budgets._read(UserFactory().pk) == dict.fromkeys(
        ("daily", "monthly", "own_daily", "own_monthly")
    )


def test_budgets_are_read_once_per_user_and_generation(user, stranger, django_assert_num_queries):
    member_of(user, "team", daily_tokens=100)

    # Whether any budget exists (none found by the first of the two), then the user's.
    with django_assert_num_queries(2):
        assert budgets.budgets_for(user) == Budgets(daily=100)
    with django_assert_num_queries(0):
        assert budgets.budgets_for(user) == Budgets(daily=100)
    with django_assert_num_queries(1):
        assert budgets.budgets_for(stranger) == Budgets(daily=11, monthly=22)
    with django_assert_num_queries(0):
        assert budgets.budgets_for(stranger.pk) == Budgets(daily=11, monthly=22)


def test_while_no_budget_exists_nothing_is_read_after_the_first_look(
    user, django_assert_num_queries
):
    with django_assert_num_queries(2):  # no group budget, no user budget
        assert budgets.budgets_for(user) == Budgets(daily=5_000)
    with django_assert_num_queries(0):
        assert budgets.budgets_for(user) == Budgets(daily=5_000)
        assert budgets.budgets_for(UserFactory.build(pk=10**6)) == Budgets(daily=5_000)


@pytest.mark.parametrize("kind", ["group", "user"])
def test_one_budget_of_either_kind_is_enough_to_read_budgets(user, kind):
    if kind == "group":
        member_of(user, "team", daily_tokens=10)
    else:
        UserBudget.objects.create(user=user, daily_tokens=10)

    assert budgets._generation()[1] is True
    assert budgets.budgets_for(user) == Budgets(daily=10)


def test_a_change_without_a_signal_shows_once_the_generation_expires(user, frozen_clock):
    own = UserBudget.objects.create(user=user, daily_tokens=10)
    assert budgets.budgets_for(user) == Budgets(daily=10)
    # As another process changes it, where caches are not shared: no signal here.
    UserBudget.objects.filter(pk=own.pk).update(daily_tokens=20)

    frozen_clock.advance(budgets.CACHE_SECONDS - 1)
    assert budgets.budgets_for(user) == Budgets(daily=10)
    frozen_clock.advance(2)
    assert budgets.budgets_for(user) == Budgets(daily=20)


def test_a_new_budget_without_a_signal_shows_once_the_generation_expires(user, frozen_clock):
    assert budgets.budgets_for(user) == Budgets(daily=5_000)
    UserBudget.objects.bulk_create([UserBudget(user=user, monthly_tokens=30)])  # no signal

    frozen_clock.advance(budgets.CACHE_SECONDS - 1)
    assert budgets.budgets_for(user) == Budgets(daily=5_000)
    frozen_clock.advance(2)
    assert budgets.budgets_for(user) == Budgets(daily=5_000, monthly=30)


def test_each_generation_has_a_new_name(user):
    first = budgets._generation()
    assert budgets._generation() == first
    budgets.forget_budgets()
    second = budgets._generation()

    assert second[0] != first[0]
    assert len(second[0]) == 32
    assert second[1] is False


def test_a_budget_or_membership_change_shows_at_once(user, stranger):
    UserBudget.objects.create(user=user, daily_tokens=10)
    assert budgets.budgets_for(user) == Budgets(daily=10)

    team = member_of(user, "team", daily_tokens=3, monthly_tokens=40)
    assert budgets.budgets_for(user) == Budgets(daily=3, monthly=40)
    GroupBudget.objects.filter(group=team).get().delete()
    assert budgets.budgets_for(user) == Budgets(daily=10)
    user.groups.add(Group.objects.get(name="theirs"))
    assert budgets.budgets_for(user) == Budgets(daily=10, monthly=900_000)
    UserBudget.objects.get(user=user).delete()
    assert budgets.budgets_for(user) == Budgets(daily=90_000, monthly=900_000)
    assert budgets.budgets_for(stranger) == Budgets(daily=11, monthly=22)


def test_forgetting_starts_a_new_generation_now_and_again_once_committed(
    user, django_capture_on_commit_callbacks
):
    UserBudget.objects.create(user=user, daily_tokens=10)
    budgets.budgets_for(user)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        budgets.forget_budgets()
        assert cache.get(budgets.GENERATION_KEY) is None
        # A send that read the old rows meanwhile cached them under a new generation.
        cache.set(budgets.GENERATION_KEY, ("stale", True))
        cache.set(f"{budgets.GENERATION_KEY}:stale:{user.pk}", budgets._read(user.pk))
        UserBudget.objects.filter(user=user).update(daily_tokens=20)
        assert budgets.budgets_for(user) == Budgets(daily=10)

    assert len(callbacks) == 1
    assert cache.get(budgets.GENERATION_KEY) is None
    assert budgets.budgets_for(user) == Budgets(daily=20)


def test_cached_budgets_expire_with_their_generation(user, frozen_clock):
    # Each generation leaves its users' budgets behind: they must not outlive it (Redis
    # would otherwise keep every generation's copies for ever).
    UserBudget.objects.create(user=user, daily_tokens=10)
    budgets.budgets_for(user)
    generation, _any = cache.get(budgets.GENERATION_KEY)
    key = f"{budgets.GENERATION_KEY}:{generation}:{user.pk}"
    assert cache.get(key) == {"daily": None, "monthly": None, "own_daily": 10, "own_monthly": None}

    frozen_clock.advance(budgets.CACHE_SECONDS - 1)
    assert cache.get(key) is not None
    frozen_clock.advance(2)
    assert cache.get(key) is None
