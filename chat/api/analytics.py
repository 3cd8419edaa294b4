"""``/api/v1/analytics/``: the tenant's daily (or hourly) figures, for readers of the tenant."""

from datetime import timedelta
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.analytics import HOURLY_KEEP_DAYS, day_start, hourly_rows, stats_rows, today_utc
from infra.replicas import replica_reads
from tenants.api.base import TenantEndpoint
from tenants.api.queries import FromToQuery
from tenants.models import ApiKeyScope


class AnalyticsQuery(FromToQuery):
    granularity = serializers.ChoiceField(choices=["day", "hour"], default="day")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        hourly = attrs["granularity"] == "hour"
        end = attrs.get("to") or today_utc()
        start = attrs.get("from") or end - timedelta(days=1 if hourly else 29)
        if end < start:
            raise serializers.ValidationError({"to": ["must not be before 'from'"]})
        most = HOURLY_KEEP_DAYS if hourly else 366
        if (end - start).days > most:
            raise serializers.ValidationError({"to": [f"at most {most} days"]})
        return {"from": start, "to": end, "granularity": attrs["granularity"]}


class AnalyticsView(TenantEndpoint, APIView):
    """The tenant's figures per day (``DailyTenantStats``) or per hour (``HourlyTenantStats``),
    computed by Celery beat."""

    subject = "analytics"
    key_scope = ApiKeyScope.ANALYTICS_READ

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "from",
                OpenApiTypes.DATE,
                description="first day, YYYY-MM-DD (default: 30 days ago; by hour: yesterday)",
            ),
            OpenApiParameter(
                "to", OpenApiTypes.DATE, description="last day, YYYY-MM-DD (default: today, UTC)"
            ),
            OpenApiParameter(
                "granularity",
                OpenApiTypes.STR,
                enum=["day", "hour"],
                description=f"'day' (default; `days` in the answer) or 'hour' (`hours`: the hours "
                f"of those days, kept {HOURLY_KEEP_DAYS} days)",
            ),
        ],
        responses={200: OpenApiResponse(description="totals and rates per day or per hour")},
    )
    @replica_reads
    def get(self, request: Request) -> Response:
        query = AnalyticsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["from"], query.validated_data["to"]
        period = {"from": start.isoformat(), "to": end.isoformat()}
        if query.validated_data["granularity"] == "hour":
            hours = hourly_rows(
                tenant_id=self.tenant_id, start=day_start(start), end=day_start(end + timedelta(days=1))
            )
            return Response({**period, "granularity": "hour", "hours": hours})
        days = stats_rows(tenant_id=self.tenant_id, start=start, end=end)
        return Response({**period, "granularity": "day", "days": days})
