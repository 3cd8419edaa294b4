"""``manage.py redis_rekey``: the keys of the version before cluster-safe names move to today's
names with their values and expiries, on the process's own Redis (``own_redis``)."""

from io import StringIO

import redis
from django.core.management import call_command

from testkit.redis_deployments import OwnRedis


def test_old_tenant_keys_move_to_their_hash_tagged_names(own_redis: OwnRedis) -> None:
    client = redis.Redis(port=own_redis.port)
    client.set("t:42:rate:tenant:60", "1700000000000", px=60_000)
    client.xadd("t:42:outbox", {"turn": "{}"})
    client.set("t:7:cache:exact:abc", "old")
    client.set("t:{7}:cache:exact:abc", "new")  # written by the new version meanwhile
    client.set("t:{9}:streams", "today's")
    client.set("global:rate:60", "platform")
    out = StringIO()
    call_command("redis_rekey", stdout=out)
    assert "2 keys renamed, 1 dropped" in out.getvalue()
    assert sorted(k.decode() for k in client.keys("*")) == [
        "global:rate:60",
        "t:{42}:outbox",
        "t:{42}:rate:tenant:60",
        "t:{7}:cache:exact:abc",
        "t:{9}:streams",
    ]
    assert 0 < client.pttl("t:{42}:rate:tenant:60") <= 60_000  # the expiry came along
    assert client.get("t:{7}:cache:exact:abc") == b"new"
    assert client.xlen("t:{42}:outbox") == 1
    call_command("redis_rekey", stdout=StringIO())  # again: nothing left to move
    assert len(client.keys("*")) == 5
