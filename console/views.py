"""The tenant console: one page per room (overview, conversations, knowledge, curated answers,
tools, alerts, the website widget, usage, team, settings, integrations (API keys, webhooks, SSO),
the history of who changed what), each
with its own URL, under a navigation that shows the rooms the member's role opens. Readers
(owners, admins, viewers) see the figures and the tenant's content; owners and admins change it,
run the team and the settings and read the history; the support team's inbox is its own page
(``inbox``)."""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from alerts.evaluation import tenant_alerts_evaluate
from billing.models import ModelPrice
from chat.analytics import hourly_rows, stats_rows, tenant_stats_refresh, today_utc
from chat.events import hour_start
from infra.replicas import replica_reads
from tenants.events import EVENT_NAMES
from tenants.experiment_results import experiment_results
from tenants.models import (
    AGENT_ROLES,
    MANAGER_ROLES,
    PROVIDER_ROLES,
    READER_ROLES,
    ApiKeyScope,
    Experiment,
    Membership,
    Role,
)
from tenants.selectors import page_membership


@dataclass(frozen=True, slots=True)
class Room:
    name: str
    title: str
    roles: frozenset[str]
    url_name: str

    @property
    def url(self) -> str:
        return reverse(self.url_name)


ROOMS = (
    Room("overview", "Overview", READER_ROLES, "console:overview"),
    Room("conversations", "Conversations", READER_ROLES, "console:conversations"),
    Room("inbox", "Inbox", AGENT_ROLES, "inbox:page"),
    Room("knowledge", "Knowledge", READER_ROLES, "console:knowledge"),
    Room("curated", "Curated answers", READER_ROLES, "console:curated"),
    Room("tools", "Tools", READER_ROLES, "console:tools"),
    Room("alerts", "Alerts", READER_ROLES, "console:alerts"),
    Room("sites", "Website widget", READER_ROLES, "console:sites"),
    Room("usage", "Usage", READER_ROLES, "console:usage"),
    Room("team", "Team", MANAGER_ROLES, "console:team"),
    Room("settings", "Settings", MANAGER_ROLES, "console:settings"),
    Room("integrations", "Integrations", MANAGER_ROLES, "console:integrations"),
    Room("history", "History", MANAGER_ROLES, "console:history"),
)
_BY_NAME = {r.name: r for r in ROOMS}


RoomView = Callable[[HttpRequest, Membership, dict[str, Any]], HttpResponse]


def room(name: str) -> Callable[[RoomView], Callable[[HttpRequest], HttpResponse]]:
    """A room's view, given the member's membership and the page's context once the session has
    a tenant (else to the tenant picker) and the role opens the room (else 403)."""

    def decorate(view: RoomView) -> Callable[[HttpRequest], HttpResponse]:
        @login_required
        @functools.wraps(view)
        def page(request: HttpRequest) -> HttpResponse:
            current, count = page_membership(session=request.session, user_id=request.user.pk or 0)
            if current is None:
                return redirect("chat:choose-tenant")
            here = _BY_NAME[name]
            if current.role not in here.roles:
                raise PermissionDenied
            context = {
                "tenant": current.tenant,
                "several": count > 1,
                "rooms": [r for r in ROOMS if current.role in r.roles],
                "current_room": name,
                "room_title": here.title,
                # The sections' templates and scripts name it so (owners and admins change content).
                "manages_knowledge": current.role in MANAGER_ROLES,
            }
            return view(request, current, context)

        return page

    return decorate


def _daily(tenant_id: int) -> list[dict[str, Any]]:
    end = today_utc()
    return stats_rows(tenant_id=tenant_id, start=end - timedelta(days=29), end=end)


@room("overview")
@replica_reads
def overview(request: HttpRequest, membership: Membership, context: dict[str, Any]) -> HttpResponse:
    tenant_id = membership.tenant_id
    now = timezone.now()
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # The embedded default has no beat: the figures are computed, and the alert rules
        # evaluated, when the console opens.
        tenant_stats_refresh(tenant_id=tenant_id, now=now)
        tenant_alerts_evaluate(tenant_id=tenant_id, now=now)
    this_hour = hour_start(now)  # the last 48 hours, this one included
    running = Experiment.objects.for_tenant(tenant_id).filter(active=True).order_by("created_at")
    context |= {
        "days": _daily(tenant_id),
        "hours": hourly_rows(
            tenant_id=tenant_id, start=this_hour - timedelta(hours=47), end=this_hour + timedelta(hours=1)
        ),
        "experiments": [experiment_results(tenant_id=tenant_id, experiment_id=e.pk) for e in running],
        "computed_on_open": settings.CELERY_TASK_ALWAYS_EAGER,
    }
    return render(request, "console/overview.html", context)


def _plain(name: str) -> Callable[[HttpRequest], HttpResponse]:
    """A room whose page needs nothing but the console's context (its script reads the API)."""

    def view(request: HttpRequest, membership: Membership, context: dict[str, Any]) -> HttpResponse:
        return render(request, f"console/{name}.html", context)

    view.__name__ = name
    return room(name)(view)


conversations = _plain("conversations")
knowledge = _plain("knowledge")
curated = _plain("curated")
tools = _plain("tools")
alerts = _plain("alerts")
usage = _plain("usage")
history = _plain("history")


@room("sites")
def sites(request: HttpRequest, membership: Membership, context: dict[str, Any]) -> HttpResponse:
    # Each site's conversations of the last 30 days, from the daily figures' channels.
    return render(request, "console/sites.html", context | {"days": _daily(membership.tenant_id)})


@room("team")
def team(request: HttpRequest, membership: Membership, context: dict[str, Any]) -> HttpResponse:
    grantable = [
        {"value": role.value, "label": role.label}
        for role in Role
        if role != Role.OWNER or membership.role == Role.OWNER  # only owners make owners
    ]
    return render(
        request,
        "console/team.html",
        context
        | {
            "roles": grantable,
            "me": request.user.get_username(),
            "invitation_days": settings.INVITATION_TTL_DAYS,
        },
    )


@room("settings")
def settings_page(request: HttpRequest, membership: Membership, context: dict[str, Any]) -> HttpResponse:
    prices = [
        {
            "model": p.model,
            "input": f"{p.input_per_mtok:f}",
            "output": f"{p.output_per_mtok:f}",
        }
        for p in ModelPrice.objects.order_by("model")
    ]
    return render(request, "console/settings.html", context | {"prices": prices})


@room("integrations")
def integrations(request: HttpRequest, membership: Membership, context: dict[str, Any]) -> HttpResponse:
    scopes = [{"value": scope.value, "label": scope.label} for scope in ApiKeyScope]
    slug = membership.tenant.slug
    sso = {
        "sso_roles": [role for role, _ in PROVIDER_ROLES],
        "sso_start": request.build_absolute_uri(reverse("sso:start", args=[slug])),
        "sso_callback": request.build_absolute_uri(reverse("sso:callback", args=[slug])),
        "scim_url": request.build_absolute_uri(f"/scim/v2/{slug}"),
    }
    return render(
        request,
        "console/integrations.html",
        context | sso | {"scopes": scopes, "events": EVENT_NAMES, "me": request.user.get_username()},
    )
