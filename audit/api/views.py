"""``/api/v1/audit/``: the tenant's audit log for its owners and admins, newest first: who
(``actor``: the username, empty for the platform), what (``action``, ``target``, ``changes``:
``{field: [before, after]}``), when and from where (``ip``). Filters: ``action`` (one, or a
family ending in a dot: ``member.``), ``actor`` (a username), ``from``/``to`` (days). Read only:
the log is append-only. ``audit/export/?format=csv|json``: the same, oldest first, as a file."""

import json
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from audit.models import AuditEntry
from audit.selectors import audit_entries
from infra.exports import FORMATS, stream_rows
from infra.replicas import reading_alias, replica_reads
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


_FILTERS = [
    OpenApiParameter("action", str, description="one action, or a family ending in '.' (member.)"),
    OpenApiParameter("actor", str, description="a username"),
    OpenApiParameter("from", str, description="on or after this day (YYYY-MM-DD)"),
    OpenApiParameter("to", str, description="on or before this day (YYYY-MM-DD)"),
]


def _filtered(view: TenantEndpoint, query: AuditQuery) -> QuerySet[AuditEntry]:
    query.is_valid(raise_exception=True)
    f = query.validated_data
    return audit_entries(
        tenant_id=view.caller.tenant_id,
        action=f.get("action", ""),
        actor=f.get("actor", ""),
        start=f.get("from"),
        end=f.get("to"),
    )


class AuditLogView(TenantEndpoint, generics.ListAPIView):
    readers = MANAGER_ROLES  # and no method writes (405)
    subject = "the audit log"
    serializer_class = AuditEntrySerializer
    pagination_class = Pages

    @extend_schema(parameters=_FILTERS)
    @replica_reads
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        return _filtered(self, AuditQuery(data=self.request.query_params))


class AuditExportQuery(AuditQuery):
    format = serializers.ChoiceField(choices=FORMATS, default="csv")


EXPORT_FIELDS = ["id", "created_at", "actor", "ip", "credential", "action", "target", "changes"]


class AuditExportView(TenantEndpoint, APIView):
    """The entries the filters find, oldest first, as a file for an auditor (streamed)."""

    readers = MANAGER_ROLES
    subject = "the audit log"

    @extend_schema(
        parameters=[*_FILTERS, OpenApiParameter("format", str, enum=FORMATS)],
        responses={(200, "text/csv"): str, (200, "application/json"): str},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        query = AuditExportQuery(data=request.query_params)
        entries = _filtered(self, query).using(reading_alias()).order_by("id")
        fmt = query.validated_data["format"]
        rows = (
            {
                "id": entry.pk,
                "created_at": entry.created_at.isoformat(),
                "actor": entry.actor_name,
                "ip": entry.ip or "",
                "credential": entry.credential,
                "action": entry.action,
                "target": entry.target,
                "changes": entry.changes if fmt == "json" else json.dumps(entry.changes, ensure_ascii=False),
            }
            for entry in entries.iterator(chunk_size=1000)
        )
        return stream_rows(rows, fields=EXPORT_FIELDS, fmt=fmt, filename="audit-log")
