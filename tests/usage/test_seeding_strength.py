"""``usage.seeding`` asked directly, the cases mutation testing found unchecked: a seed's
figures exactly (a repeat run measures the same data), each conversation one line of turns
placed as the app places them (sequence, depth, jump pointers, parents, times 40 s apart,
the current message), each reply's tokens and times from the history before it, the
rollup and rating copies equal to a rebuild from the messages (in one batch or many), the
users and groups of the run alone, and a reply's outcome, tokens and times from the random
draws it is given."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Sum

from conversations.models import ChatSession, Message, jump_depth
from sharing.models import MessageFeedback
from tests.factories import ChatSessionFactory, UserFactory
from tests.usage.factories import reply
from tests.usage.test_rollup import histogram, ratings, usage_rows
from usage import rollup, seeding

pytestmark = pytest.mark.django_db

LAST_DAY = date(2026, 3, 10)
PER_TOKEN_MS = {name: per_token for name, _share, _first, per_token in seeding.MODELS}


def seed(**options) -> seeding.Seeded:
    values = {
        "messages": 600,
        "users": 6,
        "groups": 3,
        "days": 10,
        "last_day": LAST_DAY,
        "seed": 3,
        **options,
    }
    return seeding.seed_usage(**values)


def seeded_replies():
    return Message.objects.filter(role=Message.Role.ASSISTANT, content="seeded reply")


def figures() -> dict:
    """What a seed wrote, summed (ids and names are new on each run)."""
    replies = seeded_replies()
    questions = Message.objects.filter(role=Message.Role.USER, content="seeded question")
    return {
        "statuses": dict(Counter(replies.values_list("status", flat=True))),
        "models": dict(Counter(replies.values_list("model", flat=True))),
        "sums": replies.aggregate(
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            cached=Sum("cached_tokens"),
            first=Sum("first_token_ms"),
            total=Sum("total_ms"),
            count=Sum("token_count"),
        ),
        "asked": questions.aggregate(count=Sum("token_count"))["count"],
        "days": sorted(Counter(m.created_at.date() for m in replies).items()),
        "ratings": dict(
            Counter(
                MessageFeedback.objects.filter(message__in=replies).values_list("rating", flat=True)
            )
        ),
        "sessions": ChatSession.objects.filter(title__startswith="Seeded conversation ").count(),
    }


# seed_usage(messages=600, users=6, groups=3, days=10, last_day=2026-03-10, seed=3).
SEED_3 = {
    "statuses": {"complete": 282, "cancelled": 7, "failed": 11},
    "models": {"gpt-4o-mini": 180, "gpt-4o": 76, "o3-mini": 35, "llama-3.1-70b": 9},
    "sums": {
        "prompt": 438_306,
        "completion": 70_805,
        "cached": 199_213,
        "first": 186_654,
        "total": 901_557,
        "count": 70_805,
    },
    "asked": 44_473,
    "days": [
        (date(2026, 3, 1), 25),
        (date(2026, 3, 2), 31),
        (date(2026, 3, 3), 44),
        (date(2026, 3, 4), 27),
        (date(2026, 3, 5), 45),
        (date(2026, 3, 6), 43),
        (date(2026, 3, 7), 16),
        (date(2026, 3, 9), 31),
        (date(2026, 3, 10), 38),
    ],
    "ratings": {"up": 8, "down": 1},
    "sessions": 53,
}


def test_a_seed_writes_the_same_figures_every_time():
    seeded = seed()

    assert seeded == seeding.Seeded(
        users=6,
        groups=3,
        sessions=53,
        messages=600,
        replies=300,
        feedback=9,
        first_day=date(2026, 3, 1),
        last_day=LAST_DAY,
    )
    assert figures() == SEED_3


def test_written_in_small_batches_the_same_figures_and_rollup(monkeypatch):
    monkeypatch.setattr(seeding, "BATCH", 7)

    seeded = seed()

    assert (seeded.sessions, seeded.messages, seeded.replies, seeded.feedback) == (53, 600, 300, 9)
    assert figures() == SEED_3
    assert_rollup_is_a_rebuilds()


def assert_rollup_is_a_rebuilds() -> None:
    written = (usage_rows(), histogram(), ratings())
    assert written[0] and written[1] and written[2]
    rollup.rebuild()
    assert (usage_rows(), histogram(), ratings()) == written


def test_the_rollup_and_rating_copies_are_what_a_rebuild_from_the_messages_gives():
    # Someone's usage before the seed: added to, never replaced.
    reply(ChatSessionFactory(), "2026-03-05 10:00", model="gpt-4o", first_token_ms=400)

    seed(messages=400, seed=11)

    assert_rollup_is_a_rebuilds()
    assert sum(row[0] for row in usage_rows().values()) == 201


def test_each_conversation_is_one_line_of_turns_placed_as_the_app_places_them():
    seeded = seed(messages=300, seed=5)
    first_moment = datetime.combine(seeded.first_day, time(6), tzinfo=UTC)
    last_moment = datetime.combine(seeded.last_day, time(23, 59, 59), tzinfo=UTC)
    user_ids = set(
        get_user_model().objects.filter(username__startswith="seed-").values_list("pk", flat=True)
    )

    sessions = ChatSession.objects.all()
    assert len(sessions) == seeded.sessions
    for session in sessions:
        messages = list(session.messages.order_by("sequence"))
        turns = len(messages) // 2
        assert 1 <= turns <= seeding.TURNS_PER_SESSION
        assert len(messages) == 2 * turns
        assert session.user_id in user_ids
        assert first_moment <= session.created_at <= last_moment
        assert session.updated_at == session.created_at + timedelta(seconds=40 * turns)
        assert session.current_message_id == messages[-1].pk
        assert (session.model, session.instructions, session.pinned) == ("", "", False)
        history = 0
        for index, message in enumerate(messages):
            assert message.sequence == message.depth == index
            assert message.parent_id == (messages[index - 1].pk if index else None)
            depth = jump_depth(index)
            assert message.jump_id == (None if depth is None else messages[depth].pk)
            moment = session.created_at + timedelta(seconds=40 * (index // 2))
            assert message.created_at == message.updated_at == moment
            assert (message.flagged, message.hidden, message.flag_categories) == (False, False, [])
            if index % 2 == 0:
                assert message.role == Message.Role.USER
                assert message.content == "seeded question"
                assert 5 <= message.token_count <= 300
                assert message.status == Message.Status.COMPLETE
                assert message.model == ""
                assert message.prompt_tokens is None
                history += message.token_count
                continue
            assert message.role == Message.Role.ASSISTANT
            assert message.content == "seeded reply"
            assert message.model in PER_TOKEN_MS
            if message.status == Message.Status.FAILED:
                spent = (
                    message.prompt_tokens,
                    message.completion_tokens,
                    message.cached_tokens,
                    message.first_token_ms,
                    message.total_ms,
                    message.token_count,
                )
                assert spent == (None, None, None, None, None, 0)
                continue
            assert message.prompt_tokens == 200 + history
            assert message.token_count == message.completion_tokens >= 1
            assert message.total_ms == (
                message.first_token_ms + message.completion_tokens * PER_TOKEN_MS[message.model]
            )
            if history > 500:
                cached = message.cached_tokens / message.prompt_tokens
                assert 0.2 * message.prompt_tokens - 1 <= message.cached_tokens
                assert cached <= 0.8
            else:
                assert message.cached_tokens == 0
            history += message.completion_tokens
    feedback = MessageFeedback.objects.select_related("message__session")
    assert feedback.count() == seeded.feedback > 0
    for rating in feedback:
        assert rating.message.role == Message.Role.ASSISTANT
        assert rating.user_id == rating.message.session.user_id
        assert rating.created_at == rating.updated_at == rating.message.created_at
        assert rating.rating in {"up", "down"}
        assert rating.comment == ""


@pytest.mark.parametrize(("asked", "seed_value"), [(2, 1), (20, 1), (20, 2), (38, 9)])
def test_exactly_the_messages_asked_for_are_written(asked, seed_value):
    seeded = seed(messages=asked, users=2, groups=1, seed=seed_value)

    assert (seeded.messages, seeded.replies) == (asked, asked // 2)
    assert Message.objects.count() == asked
    assert seeded_replies().count() == asked // 2
    assert ChatSession.objects.count() == seeded.sessions


def test_a_runs_users_cannot_sign_in_and_are_spread_over_its_own_groups():
    bystander = UserFactory(username="seed-bystander")
    elsewhere = Group.objects.create(name="seed-elsewhere")

    seeded = seed(messages=40, users=5, groups=2)

    users = get_user_model().objects.filter(username__startswith="seed-").exclude(pk=bystander.pk)
    run = users.first().username.split("-")[1]
    assert len(run) == 8
    assert sorted(users.values_list("username", "email")) == [
        (f"seed-{run}-{n}", f"seed-{run}-{n}@example.com") for n in range(5)
    ]
    assert not any(user.has_usable_password() for user in users)
    assert len({user.password for user in users}) == 1
    teams = Group.objects.filter(name__startswith=f"seed-{run}-team-")
    assert sorted(teams.values_list("name", flat=True)) == [
        f"seed-{run}-team-0",
        f"seed-{run}-team-1",
    ]
    for user in users:
        assert [group.name for group in user.groups.all()] in (
            [f"seed-{run}-team-0"],
            [f"seed-{run}-team-1"],
        )
    assert {group.name for group in Group.objects.filter(user__in=users)} == set(
        teams.values_list("name", flat=True)
    )
    assert not elsewhere.user_set.exists()
    assert not bystander.groups.exists()
    assert bystander.has_usable_password()
    assert seeded.users == 5 and seeded.groups == 2
    assert set(ChatSession.objects.values_list("title", flat=True)) == {
        f"Seeded conversation {run}"
    }


def test_without_groups_the_users_join_none():
    # The groups the migrations made (moderators) stay as they were.
    groups_before = set(Group.objects.values_list("pk", flat=True))
    seeded = seed(messages=20, users=3, groups=0)

    assert seeded.groups == 0
    assert get_user_model().objects.filter(username__startswith="seed-").count() == 3
    assert set(Group.objects.values_list("pk", flat=True)) == groups_before
    assert not get_user_model().groups.through.objects.exists()


def test_the_jump_of_the_next_message_is_its_ancestor_at_the_jump_depth():
    line = [f"message-{n}" for n in range(70)]
    assert seeding._jump_on([]) is None
    for length in range(1, 70):
        assert seeding._jump_on(line[:length]) == line[jump_depth(length)]


class Draws:
    """A random source that gives the values the test chooses and records what it was
    asked for."""

    def __init__(self, outcome: float, *, completion: float = 150.7, factor: float = 1.26):
        self.outcome, self.completion, self.factor = outcome, completion, factor
        self.asked: list[tuple] = []

    def random(self) -> float:
        self.asked.append(("random",))
        return self.outcome

    def lognormvariate(self, mu: float, sigma: float) -> float:
        self.asked.append(("lognormvariate", mu, sigma))
        return self.completion if mu else self.factor

    def uniform(self, low: float, high: float) -> float:
        self.asked.append(("uniform", low, high))
        return 0.25


def test_a_few_replies_fail_with_no_tokens_or_times():
    for outcome in (0.0, 0.0299):
        draws = Draws(outcome)
        assert seeding._spend(draws, history=900, first_ms=350, per_token_ms=8) == {
            "status": Message.Status.FAILED,
            "completion_tokens": None,
        }
        assert draws.asked == [("random",)]


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (0.03, Message.Status.CANCELLED),
        (0.0499, Message.Status.CANCELLED),
        (0.05, Message.Status.COMPLETE),
        (0.99, Message.Status.COMPLETE),
    ],
)
def test_a_reply_spends_its_history_plus_200_and_its_drawn_completion(outcome, status):
    draws = Draws(outcome)

    spent = seeding._spend(draws, history=501, first_ms=350, per_token_ms=8)

    # 701 prompt tokens, a quarter of the way from 20 % to 80 % cached: int(701 * 0.25).
    assert spent == {
        "status": status,
        "prompt_tokens": 701,
        "completion_tokens": 150,
        "cached_tokens": 175,
        "token_count": 150,
        "first_token_ms": 441,  # int(350 * 1.26)
        "total_ms": 441 + 150 * 8,
    }
    assert draws.asked == [
        ("random",),
        ("lognormvariate", 5.3, 0.7),
        ("lognormvariate", 0, 0.4),
        ("uniform", 0.2, 0.8),
    ]


def test_a_reply_with_500_tokens_of_history_or_fewer_has_none_cached():
    draws = Draws(0.5, completion=0.4, factor=0.5)

    spent = seeding._spend(draws, history=500, first_ms=601, per_token_ms=15)

    assert spent == {
        "status": Message.Status.COMPLETE,
        "prompt_tokens": 700,
        "completion_tokens": 1,  # at least one
        "cached_tokens": 0,
        "token_count": 1,
        "first_token_ms": 300,
        "total_ms": 315,
    }
    assert ("uniform", 0.2, 0.8) not in draws.asked


def test_without_a_seed_the_run_is_seed_1s():
    seeding.seed_usage(messages=200, users=4, groups=1, days=5, last_day=LAST_DAY)
    unseeded = figures()
    ChatSession.objects.filter(title__startswith="Seeded conversation ").delete()

    seed(messages=200, users=4, groups=1, days=5, seed=1)

    assert figures() == unseeded
    seed(messages=200, users=4, groups=1, days=5, seed=2)
    assert figures() != unseeded  # (the figures of two runs, summed)


def test_a_few_users_hold_most_conversations():
    seed()

    per_user = Counter(
        ChatSession.objects.filter(title__startswith="Seeded conversation ").values_list(
            "user_id", flat=True
        )
    )
    first, last = min(per_user), max(per_user)  # the first and last users with any
    # The n-th user is drawn with weight 1/n: the first about six times as often as the sixth.
    assert per_user[first] == max(per_user.values())
    assert per_user[first] >= 3 * per_user.get(last, 0)


def test_conversations_start_from_6_00_to_the_end_of_their_utc_day_most_in_the_afternoon():
    seed()

    starts = [
        session.created_at
        for session in ChatSession.objects.filter(title__startswith="Seeded conversation ")
    ]
    hours = Counter(start.hour for start in starts)
    assert min(hours) >= 6
    # Triangular from 6:00 to 24:00, peaking at 14:00: 10/18 of them after the peak.
    after_peak = sum(count for hour, count in hours.items() if hour >= 14)
    assert after_peak > len(starts) / 3
    assert max(hours) >= 20
