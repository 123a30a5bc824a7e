"""``manage.py seed_usage --messages 1000000``: synthetic usage to measure the dashboard."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from usage.seeding import seed_usage


class Command(BaseCommand):
    help = (
        "Write synthetic users, groups, conversations and replies (tokens, times, failures, "
        "feedback) spread over recent UTC days, for measuring the usage dashboard. "
        "Adds to the database; never deletes."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--messages", type=int, default=1_000_000, help="Messages to write.")
        parser.add_argument("--users", type=int, default=500)
        parser.add_argument("--groups", type=int, default=12)
        parser.add_argument("--days", type=int, default=90, help="UTC days, ending today.")
        parser.add_argument("--seed", type=int, default=1, help="Random seed, for repeat runs.")

    def handle(self, *args, messages, users, groups, days, seed, **options) -> None:
        if messages < 2 or users < 1 or groups < 0 or days < 1:
            raise CommandError("--messages must be at least 2, --users and --days at least 1.")
        started = time.monotonic()
        seeded = seed_usage(
            messages=messages,
            users=users,
            groups=groups,
            days=days,
            last_day=timezone.now().date(),
            seed=seed,
        )
        self.stdout.write(
            f"{seeded.messages} messages ({seeded.replies} replies, {seeded.feedback} feedback) "
            f"in {seeded.sessions} conversations of {seeded.users} users in {seeded.groups} "
            f"groups, {seeded.first_day} to {seeded.last_day}, "
            f"in {time.monotonic() - started:.1f} s"
        )
