"""Sign-ins and how they end: failed sign-ins throttled per username and address (API and login
forms), refresh tokens rotated, a logout that ends one sign-in everywhere (tokens refused, its
sockets closed with 4401), a password change that ends them all, session sockets that expire."""

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from tenants.selectors import SESSION_TENANT_KEY
from testkit.world import PASSWORD, World, client_for, session_cookie
from testkit.ws import TIMEOUT, closed_with, connect, open_chat


def sign_in(username: str, password: str = PASSWORD, tenant: str | None = "acme") -> Any:
    body = {"username": username, "password": password, **({"tenant": tenant} if tenant else {})}
    return client_for().post("/api/v1/auth/token/", body, format="json")


def chat_page_headers(cookie: bytes) -> list[tuple[bytes, bytes]]:
    """What the chat page's WebSocket handshake carries: its session cookie, from its own origin."""
    return [(b"cookie", cookie), (b"host", b"localhost:8000"), (b"origin", b"http://localhost:8000")]


async def open_session_socket(headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
    socket, connected, _ = await connect(headers=headers)
    assert connected
    assert (await socket.receive_json_from(TIMEOUT))["type"] == "ready"
    return socket


# -- throttling ---------------------------------------------------------------------------------


def test_failed_sign_ins_are_throttled_per_username_with_retry_after(world: World, settings: Any) -> None:
    for _ in range(settings.SIGN_IN_FAILURES_PER_USERNAME):
        assert sign_in("alice", "wrong").status_code == 401
    refused = sign_in("alice")  # the right password, too late
    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == "throttled" and 0 < body["retry_after"] <= settings.SIGN_IN_WINDOW_S
    assert int(refused["Retry-After"]) == body["retry_after"]
    assert sign_in("ALICE ").status_code == 429  # the same username, spelled otherwise
    assert sign_in("bob").status_code == 200  # another username from the same address


def test_a_success_clears_the_usernames_count(world: World, settings: Any) -> None:
    for _ in range(settings.SIGN_IN_FAILURES_PER_USERNAME - 1):
        assert sign_in("alice", "wrong").status_code == 401
    assert sign_in("alice").status_code == 200
    assert sign_in("alice", "wrong").status_code == 401
    assert sign_in("alice").status_code == 200


def test_failed_sign_ins_are_throttled_per_address(world: World, settings: Any) -> None:
    settings.SIGN_IN_FAILURES_PER_ADDRESS = 3
    for username in ["nobody", "noone", "nothing"]:
        assert sign_in(username, "wrong").status_code == 401
    assert sign_in("alice").status_code == 429


def test_the_login_forms_say_when_to_retry(world: World, settings: Any) -> None:
    for path in ["/accounts/login/", "/admin/login/"]:
        browser = Client()
        for _ in range(settings.SIGN_IN_FAILURES_PER_USERNAME):
            assert browser.post(path, {"username": "root", "password": "wrong"}).status_code == 200
        page = browser.post(path, {"username": "root", "password": PASSWORD})
        assert "Too many failed sign-ins" in page.content.decode(), path
        assert "_auth_user_id" not in browser.session


# -- rotation, logout, password change ----------------------------------------------------------


def test_a_refresh_rotates_the_refresh_token(world: World) -> None:
    first = sign_in("alice").json()["refresh"]
    refreshed = client_for().post("/api/v1/auth/token/refresh/", {"refresh": first}, format="json")
    assert refreshed.status_code == 200 and refreshed.json()["refresh"] != first
    again = client_for().post("/api/v1/auth/token/refresh/", {"refresh": first}, format="json")
    assert again.status_code == 401  # used once: blacklisted


async def test_a_logout_ends_that_sign_in_everywhere_and_only_that_one(world: World) -> None:
    ended, other = (
        (await sync_to_async(sign_in)("alice")).json(),
        (await sync_to_async(sign_in)("alice")).json(),
    )
    socket, _ = await open_chat(ended["access"])
    bystander, _ = await open_chat(other["access"])
    logout = await sync_to_async(client_for().post)(
        "/api/v1/auth/logout/", {"refresh": ended["refresh"]}, format="json"
    )
    assert logout.status_code == 204
    await closed_with(socket, 4401)

    def rest(token: str) -> int:
        return int(client_for(token).get("/api/v1/conversations/").status_code)

    assert await sync_to_async(rest)(ended["access"]) == 401
    refresh = await sync_to_async(client_for().post)(
        "/api/v1/auth/token/refresh/", {"refresh": ended["refresh"]}, format="json"
    )
    assert refresh.status_code == 401
    assert not (await connect(token=ended["access"]))[1]  # a new handshake is refused
    # The other sign-in goes on.
    assert await sync_to_async(rest)(other["access"]) == 200
    await bystander.send_json_to({"type": "ping"})
    assert await bystander.receive_json_from(TIMEOUT) == {"type": "pong"}
    await bystander.disconnect()
    bad = await sync_to_async(client_for().post)("/api/v1/auth/logout/", {"refresh": "nope"}, format="json")
    assert bad.status_code == 401 and bad.json()["code"] == "token_not_valid"


async def test_a_password_change_ends_every_sign_in_of_the_user(world: World) -> None:
    tokens = (await sync_to_async(sign_in)("alice")).json()
    by_token, _ = await open_chat(tokens["access"])
    cookie = await session_cookie(world.alice, "acme")
    page = chat_page_headers(cookie)
    by_session = await open_session_socket(page)
    bystander, _ = await open_chat(world.token(world.bob, world.acme))

    def change_password() -> None:
        world.alice.set_password("another-horse-battery-2")
        world.alice.save()

    await sync_to_async(change_password)()
    await closed_with(by_token, 4401)
    await closed_with(by_session, 4401)
    assert (
        await sync_to_async(client_for(tokens["access"]).get)("/api/v1/conversations/")
    ).status_code == 401
    refreshed = await sync_to_async(client_for().post)(
        "/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json"
    )
    assert refreshed.status_code == 401
    assert not (await connect(token=tokens["access"]))[1]
    assert not (await connect(headers=page))[1]  # the session's hash no longer matches
    await bystander.send_json_to({"type": "ping"})
    assert await bystander.receive_json_from(TIMEOUT) == {"type": "pong"}
    await bystander.disconnect()
    assert (await sync_to_async(sign_in)("alice", "another-horse-battery-2")).status_code == 200


# -- browser sessions -----------------------------------------------------------------------------


async def test_logging_out_of_the_chat_page_closes_its_socket(world: World) -> None:
    browser = Client()
    await sync_to_async(browser.force_login)(world.alice)

    def choose_tenant() -> None:
        session = browser.session
        session[SESSION_TENANT_KEY] = "acme"
        session.save()

    await sync_to_async(choose_tenant)()
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()
    socket = await open_session_socket(chat_page_headers(cookie))
    assert (await sync_to_async(browser.post)("/accounts/logout/")).status_code == 302
    await closed_with(socket, 4401)


@pytest.mark.parametrize("seconds", [2])
async def test_a_session_socket_closes_when_its_session_expires(
    world: World, settings: Any, seconds: int
) -> None:
    settings.SESSION_COOKIE_AGE = seconds
    socket = await open_session_socket(chat_page_headers(await session_cookie(world.alice, "acme")))
    await closed_with(socket, 4401)
