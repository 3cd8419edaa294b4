"""The client's address: X-Forwarded-For is believed only from a trusted proxy, and then only up
to the first hop that is not one (a client cannot name its own address)."""

import pytest

from infra.proxies import TrustedProxies, real_client, trusted_networks

PROXIES = trusted_networks(["10.0.0.0/8", "::1"])


@pytest.mark.parametrize(
    "peer, header, client",
    [
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # not a proxy: the header is ignored
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "1.2.3.4, 198.51.100.1", "198.51.100.1"),  # the client's own claim is ignored
        ("10.0.0.2", "198.51.100.1, 10.0.0.7", "198.51.100.1"),  # two proxies
        ("10.0.0.2", "", "10.0.0.2"),
        ("10.0.0.2", "garbage", "10.0.0.2"),
        ("10.0.0.2", "198.51.100.1, garbage", "10.0.0.2"),
        ("::1", "2001:db8::5", "2001:db8::5"),
        ("10.0.0.2", "10.0.0.3", "10.0.0.3"),  # all trusted: the farthest one
    ],
)
def test_the_real_client(peer: str, header: str, client: str) -> None:
    assert real_client(peer, header, PROXIES) == client


async def test_the_middleware_rewrites_the_scopes_client() -> None:
    seen = []

    async def app(scope: dict, receive: object, send: object) -> None:
        seen.append(scope["client"])

    middleware = TrustedProxies(app, PROXIES)
    headers = [(b"x-forwarded-for", b"198.51.100.1")]
    for peer in ("10.0.0.2", "203.0.113.9"):
        await middleware({"type": "http", "client": (peer, 5000), "headers": headers}, None, None)
    assert seen == [("198.51.100.1", 5000), ("203.0.113.9", 5000)]
    assert trusted_networks([" ", ""]) == ()
