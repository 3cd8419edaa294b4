"""``manage.py redis_rekey``: move the keys written before tenants became Redis Cluster hash tags
(``t:42:...``) to their names of today (``t:{42}:...``), with their values and expiries.

A single Redis or a Sentinel's master only: a Redis Cluster is started with today's names.
Run it once the last instance of the earlier version has stopped (docs/scaling.md, "Upgrading
to cluster-safe keys"); it is safe to run again. A key whose new name exists already (written
by the new version meanwhile: a cache refilled, a budget counter seeded again) is dropped: the
new one is as right. Sign-in counters restart their window.
"""

import re
from typing import Any

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from infra.redis_topology import sync_client, topology_from_settings

_OLD = re.compile(rb"^t:(\d+):")


class Command(BaseCommand):
    help = "Rename the tenant-prefixed Redis keys of the earlier version to cluster-safe names."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.REDIS_URL:
            raise CommandError("no REDIS_URL: the embedded default keeps nothing in Redis")
        topology = topology_from_settings()
        if topology.kind == "cluster":  # the old names' scripts could never run on one
            raise CommandError("a Redis Cluster never held the earlier key names: nothing to rename")
        client = sync_client(topology)
        moved = dropped = 0
        for key in client.scan_iter(match="t:[0-9]*", count=1000):
            found = _OLD.match(key)
            if found is None:  # t:{42}:... already
                continue
            new = b"t:{" + found.group(1) + b"}:" + key[found.end() :]
            try:
                renamed = client.renamenx(key, new)
            except redis.ResponseError:  # it expired since the scan
                continue
            if renamed:
                moved += 1
            else:
                client.delete(key)
                dropped += 1
        self.stdout.write(f"{moved} keys renamed, {dropped} dropped (their new name was in use)")
