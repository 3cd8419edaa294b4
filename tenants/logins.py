"""Logins, and how they end: a logout ends one, a password change ends all of the user's.

A login is one sign-in with a password. A JWT login carries a ``sid`` claim, set on the refresh
token at sign-in and copied to every access token minted from it (rotations keep it); a browser
login is its Django session. Ending a login blacklists its refresh token, remembers its id as
revoked for as long as an access token can live (the REST API and the WebSocket handshake refuse
it), and sends ``login_ended``: the chat closes that sign-in's sockets (4401) on every instance.
A password change blacklists every refresh token of the user, and access tokens minted before it
no longer match the password's hash claim (simplejwt's ``CHECK_REVOKE_TOKEN``); ``logins_revoked``
closes the user's sockets in every tenant.

Signals keep this app free of the chat: ``chat.revocation`` does the closing.
"""

import hashlib
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import Signal
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from infra.shared_cache import shared_cache

LOGIN_CLAIM = "sid"

# Sent once the change is committed. ``user_id``, ``login_id``: that sign-in's sockets close.
login_ended = Signal()
# ``user_id``: every socket of the user closes, in every tenant.
logins_revoked = Signal()


def new_login_id() -> str:
    return secrets.token_hex(16)


def session_login_id(session_key: str) -> str:
    """A browser login's id: derived from its session key, which is a credential and must not be
    used as a channel-group or cache name."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:32]


def _revoked_key(login_id: str) -> str:
    return f"global:login-ended:{login_id}"


def login_ended_already(login_id: str | None) -> bool:
    return login_id is not None and shared_cache().get(_revoked_key(login_id)) is not None


def token_still_valid(token: Token, user: Any) -> bool:
    """Neither its login ended (logout) nor the password changed since it was issued."""
    if login_ended_already(token.get(LOGIN_CLAIM)):
        return False
    claim = token.get(api_settings.REVOKE_TOKEN_CLAIM)
    return claim is None or claim == get_md5_hash_password(user.password)


def login_end(user_id: int, login_id: str | None, *, refresh: RefreshToken | None = None) -> None:
    """Logout: this sign-in only (the user's other devices stay signed in)."""
    if refresh is not None:
        refresh.blacklist()
    if login_id is not None:
        lifetime = int(api_settings.ACCESS_TOKEN_LIFETIME.total_seconds())
        shared_cache().set(_revoked_key(login_id), 1, timeout=lifetime + 60)
        transaction.on_commit(lambda: login_ended.send(sender=None, user_id=user_id, login_id=login_id))


def user_logins_end(user_id: int) -> None:
    """A password change (or reset): every refresh token of the user is blacklisted, every socket
    closes. Browser sessions end by themselves: Django checks the password's hash on each request."""
    outstanding = OutstandingToken.objects.filter(user_id=user_id, blacklistedtoken__isnull=True)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    transaction.on_commit(lambda: logins_revoked.send(sender=None, user_id=user_id))


def _remember_password(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    if instance.pk is None or (update_fields is not None and "password" not in update_fields):
        return
    before = sender.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    instance._password_changed = before is not None and before != instance.password


def _password_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if getattr(instance, "_password_changed", False):
        instance._password_changed = False
        user_logins_end(instance.pk)


def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """A browser logout (the chat page, the admin): its session's sockets close."""
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key and user is not None:
        login_end(user.pk, session_login_id(session_key))


def connect_signals() -> None:
    user_model = get_user_model()
    pre_save.connect(_remember_password, sender=user_model, dispatch_uid="tenants.logins.pre")
    post_save.connect(_password_saved, sender=user_model, dispatch_uid="tenants.logins.password")
    user_logged_out.connect(_logged_out, dispatch_uid="tenants.logins.logout")
