"""``/api/v1/experiments/``: A/B tests of the caller's tenant, and their results.

Owners and admins manage them; viewers read them and their results. Another tenant's
experiment is a 404.
"""

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.api.access import request_membership
from tenants.experiment_results import experiment_results
from tenants.experiments import ExperimentInvalid, experiment_create, experiment_update, validate_variants
from tenants.models import MANAGER_ROLES, READER_ROLES, Experiment, Membership, Variant


class VariantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Variant
        fields = ["id", "name", "is_control", "weight", "system_prompt", "model", "temperature", "max_tokens"]
        read_only_fields = ["id"]
        extra_kwargs = {"weight": {"min_value": 0, "max_value": 100}}


class ExperimentSerializer(serializers.ModelSerializer):
    variants = VariantSerializer(many=True)

    class Meta:
        model = Experiment
        fields = ["id", "name", "description", "active", "created_at", "ended_at", "variants"]
        read_only_fields = ["id", "created_at", "ended_at"]

    def validate_variants(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # A partial update does not make the variants' own fields optional.
        if any("name" not in v or "weight" not in v for v in value):
            raise serializers.ValidationError("each variant needs its name and weight")
        if self.instance is not None:
            # Variants are matched by name: existing ones keep their users, none is removed.
            kept = {v.name for v in self.instance.variants.all()}
            missing = kept - {v["name"] for v in value}
            if missing:
                raise serializers.ValidationError(f"variants cannot be removed: {sorted(missing)}")
        try:
            validate_variants([(v["name"], v.get("is_control", False), v["weight"]) for v in value])
        except ExperimentInvalid as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value

    def create(self, validated: dict[str, Any]) -> Experiment:
        variants = validated.pop("variants")
        return experiment_create(tenant_id=self.context["tenant_id"], fields=validated, variants=variants)

    def update(self, instance: Experiment, validated: dict[str, Any]) -> Experiment:
        variants = validated.pop("variants", None)
        return experiment_update(experiment=instance, fields=validated, variants=variants)


def _membership(request: Request, roles: frozenset[str]) -> Membership:
    membership = request_membership(request)
    if membership is None:
        raise PermissionDenied("this endpoint needs a tenant token")
    if membership.role not in roles:
        raise PermissionDenied("your role in this workspace does not allow this")
    return membership


class _TenantExperiments:
    request: Request

    def get_queryset(self) -> QuerySet[Experiment]:
        roles = MANAGER_ROLES if self.request.method not in ("GET", "HEAD", "OPTIONS") else READER_ROLES
        membership = _membership(self.request, roles)
        return Experiment.objects.for_tenant(membership.tenant_id).prefetch_related("variants")

    def perform_create(self, serializer: ExperimentSerializer) -> None:
        _membership(self.request, MANAGER_ROLES)
        serializer.save()

    def get_serializer_context(self) -> dict[str, Any]:
        context: dict[str, Any] = super().get_serializer_context()  # type: ignore[misc]
        membership = request_membership(self.request)
        context["tenant_id"] = membership.tenant_id if membership else None
        return context


class ExperimentListCreateView(_TenantExperiments, generics.ListCreateAPIView):  # type: ignore[misc]
    serializer_class = ExperimentSerializer


class ExperimentDetailView(_TenantExperiments, generics.RetrieveUpdateDestroyAPIView):  # type: ignore[misc]
    serializer_class = ExperimentSerializer


class ExperimentResultsView(APIView):
    @extend_schema(
        responses={
            200: OpenApiResponse(description="per variant: sizes, 95 % intervals, tests against control")
        }
    )
    def get(self, request: Request, pk: int) -> Response:
        membership = _membership(request, READER_ROLES)
        try:
            return Response(experiment_results(tenant_id=membership.tenant_id, experiment_id=pk))
        except Experiment.DoesNotExist:
            raise Http404 from None
