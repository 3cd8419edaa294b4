"""The web chat page: a logged-in user picks one of their tenants and chats in it."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from tenants.selectors import SESSION_TENANT_KEY, memberships_of_user


def _user_id(request: HttpRequest) -> int:
    user_id = request.user.pk
    assert user_id is not None, "login_required lets only logged-in users through"
    return user_id


@login_required
def chat_page(request: HttpRequest) -> HttpResponse:
    memberships = memberships_of_user(user_id=_user_id(request))
    chosen = request.session.get(SESSION_TENANT_KEY)
    current = next((m for m in memberships if m.tenant.slug == chosen), None)
    if current is None and len(memberships) == 1:
        current = memberships[0]
        request.session[SESSION_TENANT_KEY] = current.tenant.slug
    if current is None:
        return redirect("chat:choose-tenant")
    return render(
        request,
        "chat/chat.html",
        {"membership": current, "tenant": current.tenant, "several": len(memberships) > 1},
    )


@login_required
@require_http_methods(["GET", "POST"])
def choose_tenant(request: HttpRequest) -> HttpResponse:
    memberships = memberships_of_user(user_id=_user_id(request))
    if request.method == "POST":
        slug = request.POST.get("tenant", "")
        if any(m.tenant.slug == slug for m in memberships):
            request.session[SESSION_TENANT_KEY] = slug
            return redirect("chat:page")
    return render(request, "chat/choose_tenant.html", {"memberships": memberships})
