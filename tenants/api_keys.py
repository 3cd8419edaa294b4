"""API keys: a member makes one for a server of theirs (scoped, optionally expiring and bound to
addresses), it is shown once, and it acts as that member with its scopes only. Checked on every
request: the key's format, its hash (compared in constant time), revoked, expired, the address,
and the member still active in the key's tenant (``tenants.authentication.ApiKeyAuthentication``).

Refusals learned from others' advisories: a key never gets a scope its maker's role could not
use (LiteLLM CVE-2026-47101), a key cannot make or rotate keys, a key is read from one header
only, ``Authorization: Bearer`` (Open WebUI CVE-2026-45339), and a presented key is checked
against a fixed format before it reaches a query (LiteLLM CVE-2026-42208).
"""

import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from tenants.changes import Change, tell
from tenants.models import SCOPE_ROLES, ApiKey, ApiKeyScope, Membership
from tenants.selectors import active_membership

KEY_START = "cpk_"
_PREFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_FORMAT = re.compile(r"cpk_[a-z2-7]{10}_[A-Za-z0-9_-]{43}")
MAX_ACTIVE_KEYS = 100
MAX_ADDRESSES = 20
# ``last_used_at`` is written at most this often per key: a busy key is not a write per request.
LAST_USED_EVERY = timedelta(minutes=1)


# Sent once a revocation is committed, with ``tenant_id`` and ``key_id``: ``chat.revocation``
# closes the key's chat sockets.
key_revoked = Signal()


class KeyRefused(ValueError):
    """A key cannot be made as asked (``field``: which part of the request)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class KeyInvalid(Exception):
    """A presented key opens nothing (the message says why, naming no other tenant's data)."""


@dataclass(frozen=True)
class KeyCredential:
    """What a request authenticated by a key carries as ``request.auth``."""

    key_id: int
    tenant_id: int
    prefix: str
    scopes: frozenset[str]
    # What the audit log calls the credential: "key cpk_…", or "scim cpk_…" on the SCIM endpoints.
    kind: str = "key"

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str  # the whole key, shown this once


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _checked_scopes(scopes: Sequence[str], role: str) -> list[str]:
    if not scopes:
        raise KeyRefused("scopes", "give the key at least one scope")
    unknown = sorted(set(scopes) - set(ApiKeyScope.values))
    if unknown:
        raise KeyRefused("scopes", f"unknown scopes: {', '.join(unknown)}")
    beyond = [scope for scope in scopes if role not in SCOPE_ROLES[scope]]
    if beyond:
        raise KeyRefused("scopes", f"a {role} cannot give a key {', '.join(sorted(beyond))}")
    return sorted(set(scopes))


def _checked_addresses(addresses: Sequence[str]) -> list[str]:
    if len(addresses) > MAX_ADDRESSES:
        raise KeyRefused("allowed_addresses", f"at most {MAX_ADDRESSES} address blocks")
    try:
        return [str(ipaddress.ip_network(address, strict=False)) for address in addresses]
    except ValueError as exc:
        raise KeyRefused("allowed_addresses", str(exc)) from exc


def key_create(
    *,
    membership: Membership,
    name: str,
    scopes: Sequence[str],
    expires_at: datetime | None = None,
    allowed_addresses: Sequence[str] = (),
) -> NewKey:
    """A new key of ``membership``'s member in its tenant."""
    checked = _checked_scopes(scopes, membership.role)
    addresses = _checked_addresses(allowed_addresses)
    if expires_at is not None and expires_at <= timezone.now():
        raise KeyRefused("expires_at", "must be in the future")
    active = ApiKey.objects.for_tenant(membership.tenant_id).filter(revoked_at__isnull=True)
    if active.count() >= MAX_ACTIVE_KEYS:
        raise KeyRefused("name", f"the tenant has {MAX_ACTIVE_KEYS} active keys: revoke one first")
    prefix = KEY_START + "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(10))
    secret = f"{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        key = ApiKey.objects.create(
            tenant_id=membership.tenant_id,
            user_id=membership.user_id,
            name=name,
            prefix=prefix,
            secret_hash=_digest(secret),
            scopes=checked,
            allowed_addresses=addresses,
            expires_at=expires_at,
        )
        tell(
            tenant_id=membership.tenant_id,
            change=Change.API_KEY_CREATED,
            target=str(key),
            changes={"scopes": [None, checked], "allowed_addresses": [None, addresses],
                     "expires_at": [None, expires_at.isoformat() if expires_at else None]},
        )  # fmt: skip
    return NewKey(key=key, secret=secret)


def key_login_id(key_id: int) -> str:
    """The sign-in a key's chat sockets carry (``ChatPrincipal.login_id``): its revocation ends it."""
    return hashlib.sha256(f"api-key:{key_id}".encode()).hexdigest()[:32]


def key_revoke(*, key: ApiKey) -> None:
    """From now on the key opens nothing; its open chat sockets close (4401) once committed."""
    if key.revoked_at is not None:
        return
    with transaction.atomic():
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        tell(tenant_id=key.tenant_id, change=Change.API_KEY_REVOKED, target=str(key))
        transaction.on_commit(lambda: key_revoked.send(sender=ApiKey, tenant_id=key.tenant_id, key_id=key.pk))


def key_rotate(*, key: ApiKey, membership: Membership) -> NewKey:
    """A new secret for ``key`` (its member's, ``membership``): a new key with its name, scopes,
    addresses and expiry (checked against the member's role now), and the old one revoked."""
    if key.revoked_at is not None:
        raise KeyRefused("key", "this key was revoked: make a new one")
    with transaction.atomic():
        new = key_create(
            membership=membership,
            name=key.name,
            scopes=key.scopes,
            expires_at=key.expires_at if key.expires_at and key.expires_at > timezone.now() else None,
            allowed_addresses=key.allowed_addresses,
        )
        key_revoke(key=key)
        tell(tenant_id=key.tenant_id, change=Change.API_KEY_ROTATED, target=str(key), changes={
            "prefix": [key.prefix, new.key.prefix]})  # fmt: skip
    return new


def bearer_key(authorization: str) -> str | None:
    """The API key an ``Authorization`` header's value presents (``Bearer cpk_…``), or None (no
    key there: another credential, or none)."""
    parts = authorization.split()
    if len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1].startswith(KEY_START):
        return None
    return parts[1]


def key_authenticate(raw: str, address: str | None) -> tuple[ApiKey, Membership]:
    """The key ``raw`` and its member's active membership, or ``KeyInvalid``."""
    if not _FORMAT.fullmatch(raw):
        raise KeyInvalid("not an API key")
    # The one lookup across tenants: by the key's own unique prefix (its tenant is not known yet).
    key = ApiKey.objects.unscoped().select_related("tenant").filter(prefix=raw[:14]).first()
    if key is None or not hmac.compare_digest(_digest(raw), key.secret_hash):
        raise KeyInvalid("unknown API key")
    now = timezone.now()
    if key.revoked_at is not None:
        raise KeyInvalid("this API key was revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise KeyInvalid("this API key has expired")
    if key.allowed_addresses and not _address_allowed(address, key.allowed_addresses):
        raise KeyInvalid("this API key may not be used from this address")
    membership = active_membership(user_id=key.user_id, tenant_slug=key.tenant.slug)
    if membership is None:
        raise KeyInvalid("this API key's member or tenant is no longer active")
    if key.last_used_at is None or key.last_used_at < now - LAST_USED_EVERY:
        ApiKey.objects.for_tenant(key.tenant_id).filter(pk=key.pk).update(
            last_used_at=now, last_used_ip=_valid(address)
        )
    return key, membership


def _valid(address: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(address or ""))
    except ValueError:
        return None


def _address_allowed(address: str | None, networks: Sequence[str]) -> bool:
    found = _valid(address)
    return found is not None and any(ipaddress.ip_address(found) in ipaddress.ip_network(n) for n in networks)


def credential_of(key: ApiKey) -> KeyCredential:
    return KeyCredential(
        key_id=key.pk, tenant_id=key.tenant_id, prefix=key.prefix, scopes=frozenset(key.scopes)
    )
