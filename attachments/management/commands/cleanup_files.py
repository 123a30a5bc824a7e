"""``manage.py cleanup_files``: the daily sweep of uploads never attached to a message."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from attachments import services


class Command(BaseCommand):
    help = (
        "Delete files attached to no message for 24 hours, their rows and stored bytes, "
        "and stored bytes no file names (run it daily, e.g. from cron or a systemd timer)."
    )

    def handle(self, *args, **options) -> None:
        deleted = services.delete_abandoned_files()
        orphaned = services.delete_orphaned_bytes()
        self.stdout.write(
            f"Deleted {deleted} unattached file(s) and {orphaned} stored object(s) no file named."
        )
