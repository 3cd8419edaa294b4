"""The web pages: the chat (a logged-in user picks one of their tenants and chats in it); the
tenant console lives in its own rooms (``console``)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from infra.csp import allow_images_from
from tenants.models import AGENT_ROLES, MANAGER_ROLES, READER_ROLES
from tenants.selectors import SESSION_TENANT_KEY, chat_config_get, memberships_of_user, page_membership


def _user_id(request: HttpRequest) -> int:
    user_id = request.user.pk
    assert user_id is not None, "login_required lets only logged-in users through"
    return user_id


@login_required
def chat_page(request: HttpRequest) -> HttpResponse:
    current, count = page_membership(session=request.session, user_id=_user_id(request))
    if current is None:
        return redirect("chat:choose-tenant")
    hosts = list(current.tenant.allowed_image_hosts)
    page = render(
        request,
        "chat/chat.html",
        {
            "membership": current,
            "tenant": current.tenant,
            "several": count > 1,
            "image_hosts": hosts,
            "can_console": current.role in READER_ROLES,
            "can_inbox": current.role in AGENT_ROLES,
            "can_curate": current.role in MANAGER_ROLES,
            # Before the socket's ``ready`` says so: the history shows its usage lines at once.
            "show_usage": chat_config_get(tenant_id=current.tenant_id).shows_usage_to(current.role),
        },
    )
    return allow_images_from(page, hosts)


def console(request: HttpRequest) -> HttpResponse:
    """The console moved to its own rooms (``console``): old links land on its overview."""
    return redirect("console:overview", permanent=True)


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
