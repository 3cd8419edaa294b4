"""``/api/v1/alerts/``: the caller's tenant's alert rules (``rules/``: the brief's thresholds,
which owners and admins edit or mute) and its alerts (history, ``?state=open``; ``{id}/
acknowledge/``). Viewers read both. Another tenant's ids are a 404. Where the notifications go
(the webhook) is the tenant config's ``alert_webhook_url`` and ``alert_webhook_secret``."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts.defaults import default_rules_ensure
from alerts.models import Alert, AlertRule
from alerts.services import alert_acknowledge, alert_rule_update
from tenants.api.base import TenantEndpoint


class AlertRuleSerializer(serializers.ModelSerializer):
    threshold = serializers.FloatField(min_value=-1e9, max_value=1e9)
    window_minutes = serializers.IntegerField(min_value=5, max_value=7 * 24 * 60)
    min_samples = serializers.IntegerField(min_value=1, max_value=1_000_000)
    hysteresis = serializers.FloatField(min_value=0.0, max_value=1.0)

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "metric",
            "direction",
            "threshold",
            "window_minutes",
            "min_samples",
            "hysteresis",
            "muted",
        ]
        read_only_fields = ["id", "metric", "direction"]


class AlertSerializer(serializers.ModelSerializer):
    metric = serializers.CharField(source="rule.metric", read_only=True)
    threshold = serializers.FloatField(source="rule.threshold", read_only=True)
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", default=None, read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "metric",
            "threshold",
            "state",
            "value",
            "last_value",
            "opened_at",
            "resolved_at",
            "acknowledged_at",
            "acknowledged_by",
        ]
        read_only_fields = fields


class _AlertsEndpoint(TenantEndpoint, APIView):
    subject = "alerts"


class AlertRuleListView(_AlertsEndpoint):
    @extend_schema(responses=AlertRuleSerializer(many=True))
    def get(self, request: Request) -> Response:
        default_rules_ensure(tenant_id=self.tenant_id)
        return Response(AlertRuleSerializer(self.scoped(AlertRule).order_by("id"), many=True).data)


class AlertRuleDetailView(_AlertsEndpoint):
    @extend_schema(request=AlertRuleSerializer, responses=AlertRuleSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        rule = self.owned_or_404(AlertRule, pk)
        body = AlertRuleSerializer(rule, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        changed = alert_rule_update(rule=rule, fields=dict(body.validated_data))
        return Response(AlertRuleSerializer(changed).data)


class AlertListView(_AlertsEndpoint):
    @extend_schema(
        parameters=[OpenApiParameter("state", str, enum=[s.value for s in Alert.State])],
        responses=AlertSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        alerts = self.scoped(Alert).select_related("rule", "acknowledged_by")
        state = request.query_params.get("state")
        if state is not None:
            if state not in Alert.State.values:
                raise serializers.ValidationError({"state": [f"one of {', '.join(Alert.State.values)}"]})
            alerts = alerts.filter(state=state)
        return Response(AlertSerializer(alerts.order_by("-opened_at", "-id")[:200], many=True).data)


class AlertAcknowledgeView(_AlertsEndpoint):
    @extend_schema(request=None, responses=AlertSerializer)
    def post(self, request: Request, pk: int) -> Response:
        """Someone is on it (the alert stays open until its figure recovers)."""
        alert = self.owned_or_404(self.scoped(Alert).select_related("rule"), pk)
        alert_acknowledge(alert=alert, user_id=self.caller.user_id)
        return Response(AlertSerializer(alert).data)
