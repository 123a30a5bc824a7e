"""``manage.py rebuild_usage``: sum the stored replies into the usage rollup afresh."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from usage import rollup


class Command(BaseCommand):
    help = (
        "Empty the usage rollup (what the dashboard, /api/usage and Settings read) and sum "
        "every stored reply that has ended into it again, in one transaction. The upgrade "
        "that added the rollup does this once; run it after loading replies by other means "
        "than the app. Usage of deleted conversations, which the rollup keeps, is lost."
    )

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"{rollup.rebuild()} replies summed into the usage rollup")
