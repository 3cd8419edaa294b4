"""What the suite and the benchmarks share besides fixtures: two tenants (``World``), users, REST
clients, tenant reconfiguration, a Redis server of a test's own, sessions and metric readings."""

import re
import secrets
import string
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.db.models import F
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from chat.history.background import SUMMARIZER_PROMPT, TITLER_PROMPT
from tenants.models import Tenant
from tenants.selectors import SESSION_TENANT_KEY, forget_chat_configs
from testkit.fake_openai import FakeCall, FakeOpenAI

PASSWORD = "correct-horse-battery-1"


def worker_database_url() -> str:
    """The test database, for the worker processes the tests start."""
    database = settings.DATABASES["default"]
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


@dataclass
class World:
    """Two tenants, so every isolation check is one more assertion."""

    acme: Tenant
    globex: Tenant
    alice: Any  # acme owner
    bob: Any  # acme member
    carol: Any  # globex member
    staff: Any  # platform staff, no membership

    def token(self, user: Any, tenant: Tenant | None) -> str:
        access = AccessToken.for_user(user)  # no refresh token: nothing written (async tests)
        if tenant is not None:
            access["tenant"] = tenant.slug
        return str(access)


def client_for(token: str | None = None) -> APIClient:
    """A REST client, with the bearer token when there is one."""
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


async def reconfigure(*tenants: Tenant, **fields: object) -> None:
    """Change tenants' configuration as a save would: the config version moves (unless given),
    and this process's cached configs are dropped."""
    fields.setdefault("config_version", F("config_version") + 1)
    await Tenant.objects.filter(pk__in=[t.pk for t in tenants]).aupdate(**fields)
    forget_chat_configs()


def word_marker() -> str:
    """A unique word of letters only, to find a message by: a hex marker may be all digits,
    which the PII filter redacts as a phone number."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))


def chat_calls_with(fake: FakeOpenAI, marker: str) -> list[FakeCall]:
    """The chat calls that asked a message with ``marker`` (the last message sent; earlier
    ones are context), not the platform's own titles and summaries, which quote the messages."""
    return [
        c
        for c in fake.calls
        if c.messages[0]["content"] not in (SUMMARIZER_PROMPT, TITLER_PROMPT)
        and marker in c.messages[-1]["content"]
    ]


def make_user(username: str, **extra: Any) -> Any:
    return get_user_model().objects.create_user(
        username=username, email=f"{username}@example.com", password=PASSWORD, **extra
    )


@database_sync_to_async
def session_cookie(user: object, tenant_slug: str | None) -> bytes:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)  # type: ignore[attr-defined]
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()  # type: ignore[attr-defined]
    if tenant_slug:
        session[SESSION_TENANT_KEY] = tenant_slug
    session.save()
    return f"sessionid={session.session_key}".encode()


def metric_value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0
