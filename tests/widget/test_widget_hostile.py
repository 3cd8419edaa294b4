"""Hostile input at the widget's public edge (its endpoints are not in the OpenAPI schema, so the
schema walk does not reach them): malformed and deeply nested bodies, wrong types, text
PostgreSQL cannot store, ids past a bigint, odd keys in paths and headers. Each is a 4xx with a
JSON body or a refused handshake, never a 500; nothing is stored."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from chatplatform.asgi import application
from testkit.world import World
from testkit.ws import TIMEOUT, ChatCommunicator
from widget.models import Site, Visitor
from widget.services import site_create

pytestmark = pytest.mark.django_db(transaction=True)

DEEP = "[" * 1000 + "]" * 1000


def new_site(world: World) -> Site:
    return site_create(tenant=world.acme, fields={"name": "Shop", "allowed_domains": ["shop.example.com"]})


@pytest.mark.parametrize(
    "body, content_type",
    [
        ("{", "application/json"),
        (DEEP, "application/json"),
        ('{"identity": ' + DEEP + "}", "application/json"),
        ('{"identity": ["a"]}', "application/json"),
        ('{"identity": {"sub": "x"}}', "application/json"),
        ('{"identity": "a\\u0000b"}', "application/json"),
        ('{"identity": "\\ud800"}', "application/json"),
        ('{"identity": "' + "a" * 10_000 + '"}', "application/json"),
        ('{"identity": null}', "application/json"),
        ("[1, 2]", "application/json"),
        ("not json", "text/plain"),
    ],
)
def test_a_bad_visitors_body_is_a_4xx_and_starts_nobody(world: World, body: str, content_type: str) -> None:
    site = new_site(world)
    answer = APIClient().generic("POST", f"/widget/{site.key}/visitors/", body, content_type=content_type)
    if answer.status_code == 201:  # a body that is not an object with an identity: anonymous
        assert body in ("[1, 2]",), body
        return
    assert 400 <= answer.status_code < 500, (body[:40], answer.status_code)
    assert answer.json()["code"], answer.json()
    assert not Visitor.objects.for_tenant(world.acme.pk).exists()


@pytest.mark.parametrize(
    "path",
    [
        "/widget/site_x/conversations/99999999999999999999999/messages/",
        "/widget/site_%00/conversations/",
        "/widget/%ED%A0%80/",
        "/widget/" + "site_" + "a" * 5000 + "/",
        "/widget/site_nope/settings",
    ],
)
def test_odd_paths_are_plain_4xx(world: World, path: str) -> None:
    answer = APIClient().get(path, HTTP_ORIGIN="https://shop.example.com")
    assert 400 <= answer.status_code < 500, (path, answer.status_code)


def test_odd_visitor_headers_and_ids_are_4xx(world: World) -> None:
    site = new_site(world)
    token = APIClient().post(f"/widget/{site.key}/visitors/", {}, format="json").json()["token"]
    for header in ("Visitor ", "Visitor \x00", "Visitor " + "a" * 10_000, f"Bearer {token}", "Visitor a.b.c"):
        answer = APIClient().get(f"/widget/{site.key}/conversations/", HTTP_AUTHORIZATION=header)
        assert answer.status_code == 401, (header[:20], answer.status_code)
    mine = APIClient()
    mine.credentials(HTTP_AUTHORIZATION=f"Visitor {token}")
    too_big = mine.get(f"/widget/{site.key}/conversations/{2**63}/messages/")
    assert too_big.status_code == 404


async def _handshake(path: str, protocols: list[str]) -> Any:
    communicator = ChatCommunicator(
        application,
        path,
        headers=[(b"host", b"127.0.0.1:8000"), (b"origin", b"http://127.0.0.1:8000")],
        subprotocols=protocols,
    )
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    return communicator, connected


async def test_odd_socket_paths_and_tokens_are_refused_or_told(world: World) -> None:
    from channels.db import database_sync_to_async

    site = await database_sync_to_async(new_site)(world)
    token = await database_sync_to_async(
        lambda: APIClient().post(f"/widget/{site.key}/visitors/", {}, format="json").json()["token"]
    )()
    # A key that is not one, a conversation id past a bigint: refused or not found, never a 500.
    _, connected = await _handshake("/ws/widget/site_%00/", ["chat.v1", f"bearer.{token}"])
    assert connected is False
    communicator, connected = await _handshake(
        f"/ws/widget/{site.key}/{2**63}/", ["chat.v1", f"bearer.{token}"]
    )
    assert connected
    frame = await communicator.receive_json_from(TIMEOUT)
    assert frame["code"] == "NOT_FOUND"
    assert (await communicator.receive_output(TIMEOUT))["code"] == 4404
    # A bearer subprotocol without chat.v1: refused, as on the members' socket.
    _, connected = await _handshake(f"/ws/widget/{site.key}/", [f"bearer.{token}"])
    assert connected is False
