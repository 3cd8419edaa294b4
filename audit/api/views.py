"""``/api/v1/audit/``: the tenant's audit log for its owners and admins, newest first: who
(``actor``: the username, empty for the platform), what (``action``, ``target``, ``changes``:
``{field: [before, after]}``), when and from where (``ip``). Filters: ``action`` (one, or a
family ending in a dot: ``member.``), ``actor`` (a username), ``from``/``to`` (days). Read only:
the log is append-only."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers

from audit.models import AuditEntry
from audit.selectors import audit_entries
from infra.replicas import replica_reads
from tenants.api.base import TenantEndpoint
from tenants.api.queries import FromToQuery, Pages
from tenants.changes import Change
from tenants.models import MANAGER_ROLES


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name", help_text="the username; empty: the platform")
    action = serializers.ChoiceField(choices=[c.value for c in Change])
    changes = serializers.DictField(help_text="{field: [before, after]}")

    class Meta:
        model = AuditEntry
        fields = ["id", "created_at", "actor", "ip", "credential", "action", "target", "changes"]


class AuditQuery(FromToQuery):
    action = serializers.CharField(required=False, max_length=64)
    actor = serializers.CharField(required=False, max_length=150)


class AuditLogView(TenantEndpoint, generics.ListAPIView):
    readers = MANAGER_ROLES  # and no method writes (405)
    subject = "the audit log"
    serializer_class = AuditEntrySerializer
    pagination_class = Pages

    @extend_schema(
        parameters=[
            OpenApiParameter("action", str, description="one action, or a family ending in '.' (member.)"),
            OpenApiParameter("actor", str, description="a username"),
            OpenApiParameter("from", str, description="on or after this day (YYYY-MM-DD)"),
            OpenApiParameter("to", str, description="on or before this day (YYYY-MM-DD)"),
        ]
    )
    @replica_reads
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        query = AuditQuery(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        f = query.validated_data
        return audit_entries(
            tenant_id=self.caller.tenant_id,
            action=f.get("action", ""),
            actor=f.get("actor", ""),
            start=f.get("from"),
            end=f.get("to"),
        )
