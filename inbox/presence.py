"""Who of the support team has the inbox open: one row per open inbox socket
(``inbox.models.AgentSocket``), renewed by the socket's heartbeat. An agent is online while one
of their sockets is fresh and not away, away while all their fresh sockets are, offline else."""

from datetime import datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.db.models import Count, Q

from chat.selectors import agent_name
from inbox.models import AgentSocket
from tenants.models import AGENT_ROLES, Membership

State = Literal["online", "away", "offline"]


def fresh_after(now: datetime) -> datetime:
    """A socket seen after this is open: three missed heartbeats and a pong's wait, like the
    socket slots' leases (``SOCKET_LEASE_TTL_S``)."""
    return now - timedelta(seconds=settings.SOCKET_LEASE_TTL_S)


def presence_join(*, tenant_id: int, user_id: int, channel_name: str, now: datetime) -> None:
    AgentSocket.objects.for_tenant(tenant_id).update_or_create(
        channel_name=channel_name, defaults={"tenant_id": tenant_id, "user_id": user_id, "seen_at": now}
    )


def presence_beat(*, tenant_id: int, channel_name: str, now: datetime) -> None:
    AgentSocket.objects.for_tenant(tenant_id).filter(channel_name=channel_name).update(seen_at=now)


def presence_away(*, tenant_id: int, channel_name: str, away: bool, now: datetime) -> None:
    AgentSocket.objects.for_tenant(tenant_id).filter(channel_name=channel_name).update(away=away, seen_at=now)


def presence_leave(*, tenant_id: int, channel_name: str) -> None:
    AgentSocket.objects.for_tenant(tenant_id).filter(channel_name=channel_name).delete()


def presence_sweep(*, now: datetime) -> int:
    """Rows of sockets no instance renews any more (an instance that crashed), every tenant's."""
    return AgentSocket.objects.unscoped().filter(seen_at__lt=fresh_after(now)).delete()[0]


def agents_online(*, tenant_id: int, now: datetime) -> list[int]:
    """The ids of the tenant's agents (owners, admins, agents, active) online now."""
    return list(
        AgentSocket.objects.for_tenant(tenant_id)
        .filter(seen_at__gte=fresh_after(now), away=False, user_id__in=_agent_ids(tenant_id))
        .values_list("user_id", flat=True)
        .distinct()
    )


def agents_presence(*, tenant_id: int, now: datetime) -> list[dict[str, Any]]:
    """Every agent of the tenant with their state, by name: what the inbox shows of its team."""
    sockets = {
        row["user_id"]: row
        for row in AgentSocket.objects.for_tenant(tenant_id)
        .filter(seen_at__gte=fresh_after(now))
        .values("user_id")
        .annotate(here=Count("pk", filter=Q(away=False)))
    }
    members = (
        Membership.objects.for_tenant(tenant_id)
        .filter(role__in=AGENT_ROLES, active=True, user__is_active=True)
        .select_related("user")
        .order_by("user__username")[:500]
    )
    agents = []
    for membership in members:
        row = sockets.get(membership.user_id)
        state: State = "offline" if row is None else ("online" if row["here"] else "away")
        agents.append(
            {"agent": membership.user.username, "name": agent_name(membership.user), "state": state}
        )
    return agents


def _agent_ids(tenant_id: int) -> Any:
    return (
        Membership.objects.for_tenant(tenant_id)
        .filter(role__in=AGENT_ROLES, active=True, user__is_active=True)
        .values("user_id")
    )
