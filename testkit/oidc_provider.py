"""A real OpenID provider of a test's own: npm's certified ``oidc-provider`` (testkit/oidc,
installed by scripts/ensure-oidc-provider.sh) on a free port, with the clients and accounts the
test names, and its development login form (any login and password; the login is the account).

``sign_in`` walks that form over HTTP, as a browser would, and returns where the provider sends
the browser back (the platform's callback with its ``code`` and ``state``), without following it.
"""

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

from testkit.live import free_port

ROOT = Path(__file__).resolve().parent / "oidc"


class OidcProvider:
    def __init__(self, *, clients: list[dict[str, Any]], accounts: dict[str, dict[str, Any]]) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        config = {"port": self.port, "clients": clients, "accounts": accounts}
        self.process = subprocess.Popen(
            ["node", str(ROOT / "provider.mjs")],
            cwd=ROOT,
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "OIDC_CONFIG": json.dumps(config)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2).ok:
                    return
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the OpenID provider did not start: {self.process.stdout.read()}")  # type: ignore[union-attr]
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def sign_in(
        self, authorize_url: str, login: str, *, stop_at: str, browser: requests.Session | None = None
    ) -> str:
        """Follow the provider's pages from ``authorize_url``, signing in as ``login``, until it
        sends the browser to a URL starting with ``stop_at``; that URL."""
        browser = browser or requests.Session()
        url = authorize_url
        for _ in range(10):
            response = browser.get(url, allow_redirects=False, timeout=10)
            if response.is_redirect:
                url = urljoin(url, response.headers["Location"])
            elif 'name="login"' in response.text:
                action = re.search(r'<form[^>]* action="([^"]+)"', response.text)
                assert action is not None, response.text
                response = browser.post(
                    urljoin(url, action.group(1)),
                    data={"prompt": "login", "login": login, "password": "any"},
                    allow_redirects=False,
                    timeout=10,
                )
                assert response.is_redirect, response.text
                url = urljoin(url, response.headers["Location"])
            else:
                raise AssertionError(f"unexpected page {url}: {response.status_code} {response.text[:300]}")
            if url.startswith(stop_at):
                return url
        raise AssertionError("the provider never sent the browser back")
