"""``/api/v1/scim/groups/``: the groups the tenant's identity provider pushed by SCIM, and the role
each gives its members (set here by owners and admins, never by the provider). The provider's
own endpoints are ``/scim/v2/<workspace>/`` (``scim.views``), with an API key of the ``scim``
scope."""

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from scim.models import ScimGroup
from scim.services import group_role_set
from tenants.api.base import TenantEndpoint
from tenants.models import PROVIDER_ROLES


class ScimGroupSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="scim_id", read_only=True)
    members = serializers.IntegerField(source="members.count", read_only=True)
    role = serializers.ChoiceField(
        choices=PROVIDER_ROLES, allow_blank=True, help_text="what its members are ('': nothing)"
    )

    class Meta:
        model = ScimGroup
        fields = ["id", "display_name", "external_id", "members", "role", "created_at", "updated_at"]
        read_only_fields = ["display_name", "external_id", "created_at", "updated_at"]


class GroupList(TenantEndpoint, APIView):
    subject = "the provisioned groups"

    @extend_schema(responses=ScimGroupSerializer(many=True))
    def get(self, request: Request) -> Response:
        groups = self.scoped(ScimGroup).order_by("display_name")[:1000]
        return Response(ScimGroupSerializer(groups, many=True).data)


class GroupDetail(TenantEndpoint, APIView):
    subject = "the provisioned groups"

    def group(self, scim_id: str) -> ScimGroup:
        try:
            found = self.scoped(ScimGroup).filter(scim_id=uuid.UUID(scim_id)).first()
        except ValueError:
            found = None
        if found is None:
            raise NotFound
        return found

    @extend_schema(responses=ScimGroupSerializer)
    def get(self, request: Request, scim_id: str) -> Response:
        return Response(ScimGroupSerializer(self.group(scim_id)).data)

    @extend_schema(request=ScimGroupSerializer, responses=ScimGroupSerializer)
    def patch(self, request: Request, scim_id: str) -> Response:
        """Give the group's members a role (the weightiest of their groups' wins; owners keep
        theirs); ``""`` takes it back."""
        group = self.group(scim_id)
        serializer = ScimGroupSerializer(group, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        role = serializer.validated_data.get("role", group.role)
        group = group_role_set(group=group, role=role, actor_role=self.caller.role)
        return Response(ScimGroupSerializer(group).data)
