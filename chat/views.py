"""The web pages: the chat (a logged-in user picks one of their tenants and chats in it) and the
tenant console (analytics and running experiments, for owners, admins and viewers)."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from alerts.evaluation import tenant_alerts_evaluate
from chat.analytics import hourly_rows, stats_rows, tenant_stats_refresh, today_utc
from chat.events import hour_start
from infra.csp import allow_images_from
from tenants.experiment_results import experiment_results
from tenants.models import AGENT_ROLES, MANAGER_ROLES, READER_ROLES, Experiment
from tenants.selectors import SESSION_TENANT_KEY, memberships_of_user, page_membership


def _user_id(request: HttpRequest) -> int:
    user_id = request.user.pk
    assert user_id is not None, "login_required lets only logged-in users through"
    return user_id


def _current_membership(request: HttpRequest) -> tuple[Any, int]:
    return page_membership(session=request.session, user_id=_user_id(request))


@login_required
def chat_page(request: HttpRequest) -> HttpResponse:
    current, count = _current_membership(request)
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
        },
    )
    return allow_images_from(page, hosts)


@login_required
def console(request: HttpRequest) -> HttpResponse:
    current, count = _current_membership(request)
    if current is None:
        return redirect("chat:choose-tenant")
    if current.role not in READER_ROLES:
        raise PermissionDenied
    tenant_id = current.tenant_id
    now = timezone.now()
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # The embedded default has no beat: the figures are computed, and the alert rules
        # evaluated, when the console opens.
        tenant_stats_refresh(tenant_id=tenant_id, now=now)
        tenant_alerts_evaluate(tenant_id=tenant_id, now=now)
    end = today_utc()
    days = stats_rows(tenant_id=tenant_id, start=end - timedelta(days=29), end=end)
    this_hour = hour_start(now)  # the last 48 hours, this one included
    hours = hourly_rows(
        tenant_id=tenant_id, start=this_hour - timedelta(hours=47), end=this_hour + timedelta(hours=1)
    )
    running = Experiment.objects.for_tenant(tenant_id).filter(active=True).order_by("created_at")
    experiments = [experiment_results(tenant_id=tenant_id, experiment_id=e.pk) for e in running]
    return render(
        request,
        "chat/console.html",
        {
            "tenant": current.tenant,
            "several": count > 1,
            "days": days,
            "hours": hours,
            "experiments": experiments,
            "computed_on_open": settings.CELERY_TASK_ALWAYS_EAGER,
            "manages_knowledge": current.role in MANAGER_ROLES,
            "can_inbox": current.role in AGENT_ROLES,
        },
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
