"""``/api/v1/tools/``: the caller's tenant's HTTP tools. Owners and admins define them (name,
description, JSON Schema of the arguments, URL, method, secret, timeout); viewers read them; the
secret is never shown again. Which tools the assistant is offered (these and the built-in ones:
``search_knowledge``, ``escalate_to_human``, ``conversation_facts``) is the tenant config's
``allowed_tools``. Another tenant's tool id is a 404."""

from typing import Any

import jsonschema
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.api.base import TenantEndpoint, taken_in_tenant
from tools.catalog import BUILTINS
from tools.models import NAME_PATTERN, Tool
from tools.services import tool_create, tool_delete, tool_update


class ToolSerializer(serializers.ModelSerializer):
    name = serializers.RegexField(NAME_PATTERN, max_length=64)
    secret = serializers.CharField(write_only=True, min_length=16, max_length=200)
    timeout_s = serializers.FloatField(min_value=0.5, max_value=30.0, default=10.0)

    class Meta:
        model = Tool
        fields = [
            "id",
            "name",
            "description",
            "parameters",
            "url",
            "method",
            "secret",
            "timeout_s",
            "updated_at",
        ]
        read_only_fields = ["id", "updated_at"]

    def validate_name(self, name: str) -> str:
        if name in BUILTINS:
            raise serializers.ValidationError("that is a built-in tool's name")
        if taken_in_tenant(self.context["tools"], self.instance, name=name):
            raise serializers.ValidationError("the tenant has a tool of that name")
        return name

    def validate_parameters(self, parameters: Any) -> dict[str, Any]:
        if not isinstance(parameters, dict) or parameters.get("type") != "object":
            raise serializers.ValidationError('a JSON Schema of an object: {"type": "object", ...}')
        try:
            jsonschema.Draft202012Validator.check_schema(parameters)
        except jsonschema.SchemaError as invalid:
            raise serializers.ValidationError(f"not a valid JSON Schema: {invalid.message}") from None
        return parameters


class _ToolsEndpoint(TenantEndpoint, APIView):
    subject = "tools"


class ToolListView(_ToolsEndpoint):
    @extend_schema(responses=ToolSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(ToolSerializer(self.scoped(Tool).order_by("name"), many=True).data)

    @extend_schema(request=ToolSerializer, responses={201: ToolSerializer})
    def post(self, request: Request) -> Response:
        body = ToolSerializer(data=request.data, context={"tools": self.scoped(Tool)})
        body.is_valid(raise_exception=True)
        tool = tool_create(tenant=self.caller.tenant, fields=dict(body.validated_data))
        return Response(ToolSerializer(tool).data, status=status.HTTP_201_CREATED)


class ToolDetailView(_ToolsEndpoint):
    @extend_schema(responses=ToolSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(ToolSerializer(self.owned_or_404(Tool, pk)).data)

    @extend_schema(request=ToolSerializer, responses=ToolSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        tool = self.owned_or_404(Tool, pk)
        body = ToolSerializer(tool, data=request.data, partial=True, context={"tools": self.scoped(Tool)})
        body.is_valid(raise_exception=True)
        return Response(ToolSerializer(tool_update(tool=tool, fields=dict(body.validated_data))).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        """The tool, and its name from the tenant's ``allowed_tools``."""
        tool_delete(tool=self.owned_or_404(Tool, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
