"""Every sign-in with a password goes through here: the API's token, the chat page's and the
admin's login forms. Failures are counted (``tenants.attempts``); past the limits the
password is not even checked."""

import math
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from tenants import attempts


def client_address(request: HttpRequest | None) -> str:
    """The client's address (behind ``TRUSTED_PROXIES``, the one they forwarded: ``infra.proxies``)."""
    return (request.META.get("REMOTE_ADDR") if request is not None else None) or "unknown"


class ThrottledModelBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        username = username if username is not None else kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        address = client_address(request)
        if attempts.sign_in_retry_after(username, address) is not None:
            raise PermissionDenied("too many failed sign-ins")  # ends authenticate(): no other backend
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            attempts.sign_in_failed(username, address)
        else:
            attempts.sign_in_succeeded(username)
        return user


class _SaysWhenToRetry:
    """A login form that tells a throttled user when to try again, instead of "wrong password"."""

    request: HttpRequest | None

    def clean(self) -> dict[str, Any]:
        data = self.cleaned_data  # type: ignore[attr-defined]
        wait = attempts.sign_in_retry_after(data.get("username") or "", client_address(self.request))
        if wait is not None:
            minutes = math.ceil(wait / 60)
            raise forms.ValidationError(
                f"Too many failed sign-ins. Try again in {minutes} minute{'s' if minutes > 1 else ''}.",
                code="throttled",
            )
        return super().clean()  # type: ignore[misc,no-any-return]


class SignInForm(_SaysWhenToRetry, AuthenticationForm):
    pass


class AdminSignInForm(_SaysWhenToRetry, AdminAuthenticationForm):
    pass
