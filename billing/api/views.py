"""``GET /api/v1/usage/``: a tenant's tokens and cost, and its budget for this month."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.admission import month_bounds
from billing.selectors import tokens_used, usage_report
from infra.replicas import replica_reads
from tenants.api.base import ALL_ROLES, TenantEndpoint
from tenants.api.queries import FromToQuery
from tenants.models import ApiKeyScope
from tenants.selectors import chat_access, tenant_limits

_MAX_DAYS = 366


class UsageQuery(FromToQuery):
    tenant = serializers.SlugField(required=False, help_text="platform staff: the tenant to report on")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        today = timezone.now().astimezone(UTC).date()
        start = attrs.get("from") or today.replace(day=1)
        end = attrs.get("to") or today
        if end < start:
            raise serializers.ValidationError({"to": ["must not be before 'from'"]})
        if (end - start).days >= _MAX_DAYS:
            raise serializers.ValidationError({"to": [f"a report covers at most {_MAX_DAYS} days"]})
        return {**attrs, "from": start, "to": end}


def _with_money_as_text(row: dict[str, Any]) -> dict[str, Any]:
    """USD amounts go out as exact decimal strings, as in the chat protocol's ``cost_usd``."""
    return {
        k: f"{v.quantize(Decimal('0.00000001')):f}" if isinstance(v, Decimal) else v for k, v in row.items()
    }


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class UsageView(TenantEndpoint, APIView):
    subject = "usage"
    key_scope = ApiKeyScope.ANALYTICS_READ

    def named_tenant(self, request: Request, kwargs: dict[str, Any]) -> str | None:
        """Platform staff name the tenant (``?tenant=<slug>``); a member may name only their own."""
        return request.query_params.get("tenant") or None

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "from", OpenApiTypes.DATE, description="first day (UTC), default: the 1st of this month"
            ),
            OpenApiParameter("to", OpenApiTypes.DATE, description="last day included (UTC), default: today"),
            OpenApiParameter("tenant", str, description="platform staff only: the tenant's slug"),
        ],
        responses={200: dict},
    )
    @replica_reads
    def get(self, request: Request) -> Response:
        query = UsageQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        tenant = self.caller.tenant
        start, end = query.validated_data["from"], query.validated_data["to"]
        report = usage_report(
            tenant_id=tenant.pk, since=_day_start(start), until=_day_start(end + timedelta(days=1))
        )
        month_start, next_month = month_bounds(timezone.now().astimezone(UTC))
        budget = tenant_limits(tenant).monthly_token_budget
        used = tokens_used(tenant_id=tenant.pk, since=month_start, until=next_month)
        return Response(
            {
                "tenant": tenant.slug,
                "from": start,
                "to": end,
                "budget": {
                    "month": f"{month_start:%Y-%m}",
                    "monthly_token_budget": budget,
                    "tokens_used": used,
                    "tokens_left": None if budget is None else max(budget - used, 0),
                    "resets_on": next_month.date(),
                },
                "totals": _with_money_as_text(report.totals),
                "by_day": [_with_money_as_text(row) for row in report.by_day],
                "by_model": [_with_money_as_text(row) for row in report.by_model],
                "by_user": [_with_money_as_text(row) for row in report.by_user],
            }
        )


class MyUsageView(TenantEndpoint, APIView):
    """``usage/me/``: the caller's own tokens this month in their tenant, and what is left of
    their own budget (when the tenant gives members one)."""

    readers = ALL_ROLES
    key_scope = ApiKeyScope.CHAT

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        caller = self.caller
        month_start, next_month = month_bounds(timezone.now().astimezone(UTC))
        access = chat_access(tenant_id=caller.tenant_id, user_id=caller.user_id)
        budget = access.monthly_token_budget if access is not None else None
        used = tokens_used(
            tenant_id=caller.tenant_id, since=month_start, until=next_month, user_id=caller.user_id
        )
        return Response(
            {
                "month": f"{month_start:%Y-%m}",
                "tokens_used": used,
                "monthly_token_budget": budget,
                "tokens_left": None if budget is None else max(budget - used, 0),
                "resets_on": next_month.date(),
            }
        )
