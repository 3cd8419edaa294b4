"""The authentication backends: password sign-in (the API's token, the login forms, the admin)
with the tenants' "SSO only" rule, and the backend a provider's sign-in is recorded under."""

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from sso.services import password_refused
from tenants.sign_in import ThrottledModelBackend


class PasswordBackend(ThrottledModelBackend):
    """The password is checked first (a refusal costs the time a wrong password does), then an
    account that must sign in through its provider is refused as a wrong password is."""

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> Any:
        user = super().authenticate(request, *args, **kwargs)
        return None if user is None or password_refused(user) else user


class ProviderBackend(ModelBackend):
    """The backend of a session an identity provider signed in (``sso.views``): it checks no
    password (``authenticate`` finds no one) and restores the session's user as Django's does."""

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> Any:
        return None
