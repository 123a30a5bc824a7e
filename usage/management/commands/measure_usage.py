"""``manage.py measure_usage``: time the usage dashboard, its CSV and ``/api/usage`` on the
database as it is (after ``seed_usage``), with their query counts."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services import issue_token
from conversations.models import Message


class Command(BaseCommand):
    help = (
        "Request the admin usage dashboard, its CSV and /api/usage (for the busiest user) "
        "over recent periods; print the median time of several runs and the query count. "
        "Creates a superuser and an API token to do so: use on a benchmark database."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--runs", type=int, default=5)
        parser.add_argument("--days", type=int, nargs="+", default=[14, 90])

    def handle(self, *args, runs, days, **options) -> None:
        User = get_user_model()
        admin, _created = User.objects.get_or_create(
            username="usage-measure-admin", defaults={"is_staff": True, "is_superuser": True}
        )
        # Not the test runner's "testserver": a host the settings allow.
        host = (settings.ALLOWED_HOSTS or ["localhost"])[0].lstrip(".") or "localhost"
        staff = Client(SERVER_NAME=host)
        staff.force_login(admin)
        busiest = (
            Message.objects.filter(role=Message.Role.ASSISTANT)
            .values("session__user")
            .annotate(replies=Count("pk"))
            .order_by("-replies")
            .first()
        )
        user = User.objects.get(pk=busiest["session__user"])
        api = Client(
            SERVER_NAME=host,
            headers={"Authorization": f"Bearer {issue_token(user=user).token}"},
        )
        total = Message.objects.count()
        self.stdout.write(f"{total} messages; database {connection.vendor}; {runs} runs each")
        today = timezone.now().date()
        for length in days:
            start = (today - timedelta(days=length - 1)).isoformat()
            end = today.isoformat()
            replies = Message.objects.filter(
                role=Message.Role.ASSISTANT, created_at__date__gte=start
            ).count()
            self.stdout.write(f"period {start} to {end} ({length} days, {replies} replies):")
            dashboard = f"/admin/usage/usagedashboard/?start={start}&end={end}"
            for label, client, url in (
                ("admin dashboard", staff, dashboard),
                ("dashboard CSV", staff, dashboard + "&format=csv"),
                (f"/api/usage ({user.username})", api, f"/api/usage?from={start}&to={end}"),
            ):
                self._measure(label, client, url, runs)

    def _measure(self, label: str, client: Client, url: str, runs: int) -> None:
        client.get(url)  # warm: templates, connections, caches
        times = []
        for _ in range(runs):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise CommandError(f"{url} answered {response.status_code}")
        self.stdout.write(
            f"  {label}: median {statistics.median(times):.0f} ms "
            f"(min {min(times):.0f}, max {max(times):.0f}), {len(queries)} queries"
        )
