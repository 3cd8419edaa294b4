"""The inbox page: the support team's console of conversations waiting for or held by a human
(``static/inbox/inbox.js`` does the rest, over the REST inbox and the inbox socket)."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from tenants.models import AGENT_ROLES, MANAGER_ROLES, READER_ROLES
from tenants.selectors import page_membership


@login_required
def inbox_page(request: HttpRequest) -> HttpResponse:
    current, count = page_membership(session=request.session, user_id=request.user.pk or 0)
    if current is None:
        return redirect("chat:choose-tenant")
    if current.role not in AGENT_ROLES:
        raise PermissionDenied
    return render(
        request,
        "inbox/inbox.html",
        {
            "tenant": current.tenant,
            "several": count > 1,
            "can_console": current.role in READER_ROLES,
            "assigns": current.role in MANAGER_ROLES,
        },
    )
