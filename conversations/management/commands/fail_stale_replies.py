"""``manage.py fail_stale_replies``: the periodic sweep of replies whose writer died."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from conversations import reply_storage


class Command(BaseCommand):
    help = (
        "Store as failed, and count in the usage figures, every reply whose process died while "
        "writing it (run it hourly or daily, e.g. from a systemd timer)."
    )

    def handle(self, *args, **options) -> None:
        swept = reply_storage.fail_stale_replies()
        self.stdout.write(f"Stored {swept} stale reply(ies) as failed.")
