"""``/api/v1/webhooks/``: the tenant's webhook endpoints (owners and admins): each a URL that
receives the events it subscribes to, signed with its secret (shown when it is made and when it
is rotated, never again); its deliveries, newest first, with each one's tries; a delivery sent
again on request. The payload and its headers: README, *Webhooks*."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.api.base import TenantEndpoint
from tenants.api.errors import Conflict
from tenants.api.queries import Pages
from tenants.events import EVENT_NAMES, Event
from webhooks.models import Delivery, DeliveryStatus, Endpoint
from webhooks.services import (
    MAX_ENDPOINTS,
    endpoint_create,
    endpoint_delete,
    endpoint_rotate_secret,
    endpoint_update,
    redeliver,
)


class EndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_NAMES), min_length=1, max_length=len(Event)
    )

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "active",
            "disabled_reason",
            "failures_in_a_row",
            "created_at",
        ]
        read_only_fields = ["disabled_reason", "failures_in_a_row", "created_at"]

    def validate_events(self, events: list[str]) -> list[str]:
        return sorted(set(events))


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="signs every POST: shown this once")

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = [
            "id", "event", "url", "status", "attempts", "last_error", "created_at", "last_attempt_at",
            "next_attempt_at", "delivered_at", "payload",
        ]  # fmt: skip


class _WebhooksEndpoint(TenantEndpoint, APIView):
    subject = "webhooks"


class EndpointListCreateView(_WebhooksEndpoint):
    @extend_schema(responses=EndpointSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(EndpointSerializer(self.scoped(Endpoint), many=True).data)

    @extend_schema(request=EndpointSerializer, responses={201: EndpointWithSecretSerializer})
    def post(self, request: Request) -> Response:
        serializer = EndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if self.scoped(Endpoint).count() >= MAX_ENDPOINTS:
            raise Conflict(f"a tenant has at most {MAX_ENDPOINTS} webhook endpoints")
        endpoint = endpoint_create(
            tenant_id=self.tenant_id, user_id=request.user.pk, fields=serializer.validated_data
        )
        return Response(EndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointDetailView(_WebhooksEndpoint):
    @extend_schema(responses=EndpointSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(EndpointSerializer(self.owned_or_404(Endpoint, pk)).data)

    @extend_schema(request=EndpointSerializer, responses=EndpointSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        """Change it; ``active: true`` turns on again one the platform turned off."""
        endpoint = self.owned_or_404(Endpoint, pk)
        serializer = EndpointSerializer(endpoint, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        return Response(
            EndpointSerializer(endpoint_update(endpoint=endpoint, fields=serializer.validated_data)).data
        )

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        endpoint_delete(endpoint=self.owned_or_404(Endpoint, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateSecretView(_WebhooksEndpoint):
    @extend_schema(request=None, responses=EndpointWithSecretSerializer)
    def post(self, request: Request, pk: int) -> Response:
        """A new secret: POSTs are signed with it from now on."""
        endpoint = endpoint_rotate_secret(endpoint=self.owned_or_404(Endpoint, pk))
        return Response(EndpointWithSecretSerializer(endpoint).data)


class DeliveryQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)


class DeliveryListView(_WebhooksEndpoint):
    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=DeliveryStatus.values)],
        responses=DeliverySerializer(many=True),
    )
    def get(self, request: Request, pk: int) -> Response:
        endpoint = self.owned_or_404(Endpoint, pk)
        query = DeliveryQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        deliveries = self.scoped(Delivery).filter(endpoint=endpoint)
        if "status" in query.validated_data:
            deliveries = deliveries.filter(status=query.validated_data["status"])
        pages = Pages()
        page = pages.paginate_queryset(deliveries, request, view=self)
        return pages.get_paginated_response(DeliverySerializer(page, many=True).data)


class RedeliverView(_WebhooksEndpoint):
    @extend_schema(request=None, responses={202: DeliverySerializer})
    def post(self, request: Request, pk: int) -> Response:
        """The same event and payload, sent again now (to the endpoint's URL as it is now)."""
        delivery: Any = self.owned_or_404(self.scoped(Delivery).select_related("endpoint"), pk)
        if delivery.endpoint is not None and not delivery.endpoint.active:
            raise ValidationError({"endpoint": ["the endpoint is turned off: turn it on first"]})
        return Response(
            DeliverySerializer(redeliver(delivery=delivery)).data, status=status.HTTP_202_ACCEPTED
        )
