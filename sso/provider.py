"""The OpenID Connect client of one tenant's provider: Authlib's Django client, which does the
protocol (authorization-code flow with PKCE S256, ``state`` and ``nonce`` kept in the session,
the code exchange, the ID token's signature checked against the provider's JWKS and its
``iss``, ``aud``, ``exp``, ``iat`` and ``nonce`` claims), with every request it makes held to
the outbound rules (``infra.guarded_requests``: the issuer is a URL a tenant's admin typed).

The discovery document and the keys are kept in the cache for ``SSO_METADATA_TTL_S`` (a key id
the cached set lacks fetches the set again: Authlib's rotation handling), per connection.
"""

from typing import Any

from authlib.integrations.django_client import DjangoIntegration, DjangoOAuth2App
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings

from infra.guarded_requests import guard
from infra.keys import tenant_prefix
from infra.shared_cache import shared_cache
from sso.models import Connection

DISCOVERY_PATH = "/.well-known/openid-configuration"


class ProviderRefused(Exception):
    """The provider's answers cannot be trusted (an issuer that is not the one configured)."""


class GuardedOAuth2Session(OAuth2Session):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        guard(
            self,
            what="the identity provider",
            timeout_s=settings.SSO_HTTP_TIMEOUT_S,
            max_bytes=settings.SSO_MAX_RESPONSE_BYTES,
        )


def _issuer(url: str) -> str:
    return url.rstrip("/")


def _metadata_key(connection: Connection) -> str:
    return f"{tenant_prefix(connection.tenant_id)}:sso:metadata"


class TenantProvider(DjangoOAuth2App):  # type: ignore[misc]
    client_cls = GuardedOAuth2Session

    def __init__(self, connection: Connection) -> None:
        name = f"sso{connection.pk}"
        super().__init__(
            DjangoIntegration(name),
            name=name,
            client_id=connection.client_id,
            client_secret=connection.client_secret,
            server_metadata_url=_issuer(connection.issuer) + DISCOVERY_PATH,
            client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
            **(shared_cache().get(_metadata_key(connection)) or {}),
        )
        self.connection = connection

    def load_server_metadata(self) -> dict[str, Any]:
        fresh = "_loaded_at" not in self.server_metadata
        metadata: dict[str, Any] = super().load_server_metadata()
        if fresh:
            # OpenID Connect Discovery §4.3: the document's issuer is exactly the one asked for
            # (else a provider could speak for another: a mix-up).
            if _issuer(str(metadata.get("issuer", ""))) != _issuer(self.connection.issuer):
                raise ProviderRefused("the provider's discovery document names another issuer")
            self._remember()
        return metadata

    def parse_id_token(self, token: dict[str, Any], nonce: str, **kwargs: Any) -> Any:
        """Authlib's checks, with ``aud`` required to hold this client (OpenID Connect Core
        §3.1.3.7: Authlib checks it only when told to) and ``iss`` the configured issuer."""
        options = {
            "iss": {"essential": True, "values": [self.load_server_metadata()["issuer"]]},
            "aud": {"essential": True, "values": [self.client_id]},
        }
        return super().parse_id_token(token, nonce, **{**kwargs, "claims_options": options})

    def fetch_jwk_set(self, force: bool = False) -> dict[str, Any]:
        had = self.server_metadata.get("jwks")
        jwks: dict[str, Any] = super().fetch_jwk_set(force=force)
        if jwks is not had:
            self._remember()
        return jwks

    def _remember(self) -> None:
        metadata = dict(self.server_metadata)
        shared_cache().set(_metadata_key(self.connection), metadata, settings.SSO_METADATA_TTL_S)


def provider_forget(connection: Connection) -> None:
    """After the connection changed: its provider's documents are read again."""
    shared_cache().delete(_metadata_key(connection))
