"""The usage commands called as an operator calls them (issue 23): each bound of
``seed_usage`` at and past its edge and its defaults, what it and ``rebuild_usage`` print,
and ``measure_usage``'s report worked from a clock the test drives."""

from __future__ import annotations

import itertools
from datetime import date
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from conversations.models import Message
from tests.factories import UserFactory, conversation
from usage import rollup
from usage.management.commands import measure_usage, seed_usage
from usage.seeding import Seeded

pytestmark = pytest.mark.django_db

REFUSAL = "--messages must be at least 2, --users and --days at least 1."


@pytest.fixture
def seeded(monkeypatch):
    """``seed_usage``'s calls recorded instead of run, its clock 2.25 s a run."""
    calls = []

    def seed(**options):
        calls.append(options)
        return Seeded(
            users=3,
            groups=2,
            sessions=4,
            messages=10,
            replies=5,
            feedback=1,
            first_day=date(2026, 3, 1),
            last_day=date(2026, 3, 2),
        )

    monkeypatch.setattr(seed_usage, "seed_usage", seed)
    clock = itertools.count(100.0, 2.25)
    monkeypatch.setattr(seed_usage, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    return calls


@pytest.mark.parametrize(
    "arguments",
    [["--messages=1"], ["--users=0"], ["--groups=-1"], ["--days=0"]],
)
def test_seed_usage_refuses_each_bound_one_past_its_edge(seeded, arguments):
    with pytest.raises(CommandError) as refused:
        call_command("seed_usage", *arguments, stdout=StringIO())

    assert str(refused.value) == REFUSAL
    assert seeded == []


def test_seed_usage_takes_each_bound_at_its_edge_and_says_what_it_wrote(seeded):
    out = StringIO()

    call_command(
        "seed_usage", "--messages=2", "--users=1", "--groups=0", "--days=1", "--seed=7", stdout=out
    )

    assert seeded == [
        {
            "messages": 2,
            "users": 1,
            "groups": 0,
            "days": 1,
            "last_day": timezone.now().date(),
            "seed": 7,
        }
    ]
    assert out.getvalue() == (
        "10 messages (5 replies, 1 feedback) in 4 conversations of 3 users in 2 groups, "
        "2026-03-01 to 2026-03-02, in 2.2 s\n"
    )


def test_seed_usage_defaults_to_a_million_messages_of_500_users_over_90_days(seeded):
    call_command("seed_usage", stdout=StringIO())

    assert seeded == [
        {
            "messages": 1_000_000,
            "users": 500,
            "groups": 12,
            "days": 90,
            "last_day": timezone.now().date(),
            "seed": 1,
        }
    ]


def test_rebuild_usage_says_how_many_replies_it_summed(user, other_user):
    conversation(user, turns=2)
    conversation(other_user, turns=1)
    Message.objects.filter(role=Message.Role.ASSISTANT).update(model="m")
    out = StringIO()

    call_command("rebuild_usage", stdout=out)

    assert out.getvalue() == "3 replies summed into the usage rollup\n"
    assert rollup.rebuild() == 3


@pytest.fixture
def busiest(user, other_user):
    """``user`` has the most replies; ``other_user`` has one."""
    conversation(user, turns=3)
    conversation(other_user, turns=1)
    return user


@pytest.fixture
def ticking(monkeypatch):
    """``perf_counter`` as a clock by which the requests timed take 7, 7.6, 7 and 9.4 ms,
    over and over (the command's own ``time``: nothing else reads this clock)."""
    durations = itertools.cycle([0.0070, 0.0076, 0.0070, 0.0094])
    ticks = itertools.chain.from_iterable(
        (start, start + next(durations)) for start in itertools.count(0, 10)
    )
    monkeypatch.setattr(measure_usage, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))


def test_measure_usage_reports_each_page_of_each_period(busiest, ticking):
    out = StringIO()

    call_command("measure_usage", "--runs=4", "--days", "1", "30", stdout=out)

    today = timezone.now().date()
    month = today.toordinal() - 29
    lines = out.getvalue().splitlines()
    assert lines[0] == f"8 messages; database {connection.vendor}; 4 runs each"
    assert lines[1] == f"period {today} to {today} (1 days, 4 replies):"
    assert lines[5] == f"period {date.fromordinal(month)} to {today} (30 days, 4 replies):"
    pages = [line.split(":")[0] for line in lines[2:5] + lines[6:9]]
    assert (
        pages
        == [
            "  admin dashboard",
            "  dashboard CSV",
            f"  /api/usage ({busiest.username})",
        ]
        * 2
    )
    # 7.0, 7.6, 7.0 and 9.4 ms: the median is 7.3.
    assert all(" median 7 ms (min 7, max 9), " in line for line in lines[2:5] + lines[6:9])
    assert len(lines) == 9


def test_measure_usage_defaults_to_five_runs_over_14_and_90_days(busiest, ticking):
    out = StringIO()

    call_command("measure_usage", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0].endswith("; 5 runs each")
    assert [line.split(" (")[1].split(" days")[0] for line in lines if "period" in line] == [
        "14",
        "90",
    ]


def test_measure_usage_counts_the_queries_of_one_request(busiest, ticking):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    url = "/admin/usage/usagedashboard/"
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    out = StringIO()

    measure_usage.Command(stdout=out)._measure("the page", client, url, 3)

    assert out.getvalue() == (f"  the page: median 7 ms (min 7, max 8), {len(queries)} queries\n")


@override_settings(ALLOWED_HOSTS=[".example.com", "other.test"])
def test_measure_usage_asks_for_the_first_allowed_host(busiest, ticking, monkeypatch):
    hosts = []
    original = measure_usage.Client.__init__

    def init(self, *args, **kwargs):
        hosts.append(kwargs.get("SERVER_NAME"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(measure_usage.Client, "__init__", init)

    call_command("measure_usage", "--runs=1", "--days", "1", stdout=StringIO())

    assert hosts == ["example.com", "example.com"]


def test_measure_usage_stops_at_a_page_that_fails(busiest, ticking):
    broken = measure_usage.Command(stdout=StringIO())
    client = Client()

    with pytest.raises(CommandError) as refused:
        broken._measure("missing", client, "/no-such-page/", 1)

    assert str(refused.value) == "/no-such-page/ answered 404"


def test_seed_usage_says_what_each_option_is_for():
    parser = seed_usage.Command().create_parser("manage.py", "seed_usage")
    helps = {action.dest: action.help for action in parser._actions}

    assert {name: helps[name] for name in ("messages", "days", "seed")} == {
        "messages": "Messages to write.",
        "days": "UTC days, ending today.",
        "seed": "Random seed, for repeat runs.",
    }
