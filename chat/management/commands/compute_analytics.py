"""``manage.py compute_analytics``: what the beat task does, now (after an import, for a demo)."""

from typing import Any

from django.core.management.base import BaseCommand

from chat.tasks import compute_daily_stats


class Command(BaseCommand):
    help = "Recompute the daily and hourly analytics that can still change, for every active tenant."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"{compute_daily_stats.apply().get()} daily and hourly rows written")
