"""``manage.py delete_expired_tokens``: the periodic sweep of expired API tokens."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from accounts import services


class Command(BaseCommand):
    help = "Delete every user's expired API tokens (run it daily, e.g. from a systemd timer)."

    def handle(self, *args, **options) -> None:
        deleted = services.delete_expired_tokens()
        self.stdout.write(f"Deleted {deleted} expired API token(s).")
