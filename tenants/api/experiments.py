"""``/api/v1/experiments/``: A/B tests of the caller's tenant, and their results.

Owners and admins manage them; viewers read them and their results. Another tenant's
experiment is a 404.
"""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.api.base import TenantEndpoint
from tenants.experiment_results import experiment_results
from tenants.experiments import (
    ExperimentInvalid,
    experiment_create,
    experiment_delete,
    experiment_update,
    validate_variants,
)
from tenants.models import ApiKeyScope, Experiment, Variant


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


class _ExperimentsEndpoint(TenantEndpoint):
    subject = "experiments"

    def get_queryset(self) -> QuerySet[Experiment]:
        return self.scoped(Experiment).prefetch_related("variants")

    def get_serializer_context(self) -> dict[str, Any]:
        context: dict[str, Any] = super().get_serializer_context()  # type: ignore[misc]
        context["tenant_id"] = self.tenant_id
        return context


class ExperimentListCreateView(_ExperimentsEndpoint, generics.ListCreateAPIView):
    serializer_class = ExperimentSerializer


class ExperimentDetailView(_ExperimentsEndpoint, generics.RetrieveUpdateDestroyAPIView):
    serializer_class = ExperimentSerializer

    def perform_destroy(self, instance: Experiment) -> None:
        experiment_delete(experiment=instance)


class ExperimentResultsView(TenantEndpoint, APIView):
    subject = "experiments"
    key_scope = ApiKeyScope.ANALYTICS_READ

    @extend_schema(
        responses={
            200: OpenApiResponse(description="per variant: sizes, 95 % intervals, tests against control")
        }
    )
    def get(self, request: Request, pk: int) -> Response:
        try:
            return Response(experiment_results(tenant_id=self.tenant_id, experiment_id=pk))
        except Experiment.DoesNotExist:
            raise NotFound from None
