"""The invitation page: whoever holds the link signs in, or creates an account, and accepts."""

from typing import Any

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from tenants.invitations import InvitationInvalid, invitation_accept, invitation_pending
from tenants.selectors import SESSION_TENANT_KEY
from tenants.services import AlreadyMember

_TEMPLATE = "tenants/invitation.html"


@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    now = timezone.now()
    try:
        pending = invitation_pending(token=token, now=now)
    except InvitationInvalid:
        return render(request, _TEMPLATE, {"invalid": True}, status=404)
    form: UserCreationForm[Any] = UserCreationForm()
    if request.method == "POST":
        if not request.user.is_authenticated:
            form = UserCreationForm(request.POST)
            if not form.is_valid():
                return render(request, _TEMPLATE, {"invitation": pending, "form": form}, status=400)
            user = form.save(commit=False)
            user.email = pending.email  # the address the link was sent to
            user.save()
            # The password backend (the first): the account was just made with a password.
            login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
        try:
            invitation_accept(token=token, user_id=request.user.pk or 0, now=now)
        except InvitationInvalid:
            return render(request, _TEMPLATE, {"invalid": True}, status=404)
        except AlreadyMember:
            pass  # nothing to join; the chat page opens on the tenant all the same
        request.session[SESSION_TENANT_KEY] = pending.tenant.slug
        return redirect("chat:page")
    return render(request, _TEMPLATE, {"invitation": pending, "form": form})
