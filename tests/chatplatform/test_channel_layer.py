"""Two deployments on one Redis server, in two databases, never hear each other's groups (pub/sub
ignores the database number: the layer's prefix carries it). Before, a live platform starting in
one test worker closed the demo user's sockets of another worker's platform (4401)."""

import asyncio

from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings

from chatplatform.settings.data_stores import redis_channel_layer
from infra.redis_topology import Topology
from testkit.redis_deployments import OwnRedisCluster
from testkit.ws import TIMEOUT


def _layer(database: int) -> RedisPubSubChannelLayer:
    server = settings.REDIS_URL.rsplit("/", 1)[0]
    return RedisPubSubChannelLayer(**redis_channel_layer(Topology(f"{server}/{database}"))["CONFIG"])


async def test_a_group_of_one_deployment_is_not_heard_by_another_on_the_same_server() -> None:
    ours, theirs = _layer(5), _layer(7)
    channel = await ours.new_channel()
    await ours.group_add("t:1:user:1", channel)
    try:
        # Theirs is published first: had it reached our group, it would come before ours.
        await theirs.group_send("t:1:user:1", {"type": "credentials.revoked", "login_id": None})
        await ours.group_send("t:1:user:1", {"type": "user.push", "frame": {"type": "notice"}})
        received = await asyncio.wait_for(ours.receive(channel), TIMEOUT)
        assert received["type"] == "user.push", received
    finally:
        await ours.group_discard("t:1:user:1", channel)
        await ours.flush()
        await theirs.flush()


def test_the_platforms_layer_is_prefixed_with_its_database() -> None:
    layer = get_channel_layer()
    assert isinstance(layer, RedisPubSubChannelLayer)
    database = settings.REDIS_URL.rsplit("/", 1)[1]
    assert settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] == f"asgi-db{database}"
    assert redis_channel_layer(Topology("redis://h:6379"))["CONFIG"]["prefix"] == "asgi-db0"
    assert redis_channel_layer(Topology("redis://h:6379/3"), "tenant-a")["CONFIG"]["prefix"] == "tenant-a"


async def test_two_instances_hear_each_others_groups_on_a_redis_cluster(
    redis_cluster: OwnRedisCluster,
) -> None:
    """On a Cluster the layer is sharded over the masters (channels-redis ``hosts``); a group
    message from one instance reaches a socket of another, whichever master each channel's
    shard is on."""
    config = redis_channel_layer(redis_cluster.topology, "cluster-test")["CONFIG"]
    ours, theirs = RedisPubSubChannelLayer(**config), RedisPubSubChannelLayer(**config)
    channels = [await ours.new_channel() for _ in range(6)]
    groups = [f"t:{n}:user:1" for n in range(6)]  # spread over the shards
    try:
        for group, channel in zip(groups, channels, strict=True):
            await ours.group_add(group, channel)
        for group in groups:
            await theirs.group_send(group, {"type": "user.push", "frame": {"group": group}})
        for group, channel in zip(groups, channels, strict=True):
            received = await asyncio.wait_for(ours.receive(channel), TIMEOUT)
            assert received["frame"]["group"] == group
    finally:
        for group, channel in zip(groups, channels, strict=True):
            await ours.group_discard(group, channel)
        await ours.flush()
        await theirs.flush()
