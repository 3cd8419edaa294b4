"""``/api/v1/analytics/routing/``: model routing as a choice the tenant sees. Each class, the
model it goes to today, and over the period the share of answers it got, the models that gave
them and what they cost. Owners and admins turn routing off (``model_routing_enabled`` in the
tenant's config) or keep a class on the default model (its model left blank)."""

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.analytics import day_start, today_utc
from chat.gateway.model_routing import UNROUTED, Route
from chat.selectors import routed_answers
from infra.replicas import replica_reads
from tenants.api.base import TenantEndpoint
from tenants.api.queries import FromToQuery
from tenants.models import ApiKeyScope
from tenants.selectors import routing_models


class RoutingQuery(FromToQuery):
    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.get("to") or today_utc()
        start = attrs.get("from") or end - timedelta(days=29)
        if end < start:
            raise serializers.ValidationError({"to": ["must not be before 'from'"]})
        if (end - start).days > 366:
            raise serializers.ValidationError({"to": ["at most 366 days"]})
        return {"from": start, "to": end}


class RoutingView(TenantEndpoint, APIView):
    subject = "model routing"
    key_scope = ApiKeyScope.ANALYTICS_READ

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="first day (default: 30 days ago)"),
            OpenApiParameter("to", OpenApiTypes.DATE, description="last day (default: today, UTC)"),
        ],
        responses={200: OpenApiResponse(description="each routing class: its model, share and cost")},
    )
    @replica_reads
    def get(self, request: Request) -> Response:
        query = RoutingQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["from"], query.validated_data["to"]
        tenant = self.caller.tenant
        rows = routed_answers(
            tenant_id=tenant.pk, start=day_start(start), end=day_start(end + timedelta(days=1))
        )
        total = sum(r.answers for r in rows)
        by_route: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            by_route[row.route].append(row)
        mapped = routing_models(tenant)
        classes = []
        for route in [*(r.value for r in Route), UNROUTED]:
            found = by_route.get(route, [])
            answers = sum(r.answers for r in found)
            if route == UNROUTED and not answers:
                continue
            model = mapped.get(route, tenant.model)
            classes.append(
                {
                    "route": route or "unrouted",
                    "model": model,
                    "answers": answers,
                    "share": round(answers / total, 4) if total else 0.0,
                    "cost_usd": str(sum((r.cost_usd for r in found), Decimal(0))),
                    "by_model": [
                        {"model": r.model, "answers": r.answers, "cost_usd": str(r.cost_usd)} for r in found
                    ],
                }
            )
        return Response(
            {
                "from": start.isoformat(),
                "to": end.isoformat(),
                "enabled": tenant.model_routing_enabled,
                "default_model": tenant.model,
                "answers": total,
                "classes": classes,
            }
        )
