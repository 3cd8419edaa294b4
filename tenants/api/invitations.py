"""``tenants/{slug}/invitations/``: how an existing account joins a tenant (``tenants.invitations``).
Owners and admins invite an e-mail address and see, revoke their tenant's invitations; the
answer never depends on whether an account uses that address."""

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.api.base import TenantEndpoint
from tenants.invitations import invitation_create, invitation_revoke
from tenants.models import MANAGER_ROLES, Invitation, Role
from tenants.services import may_grant


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)


class InvitationSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    invited_by = serializers.CharField(source="invited_by.username", default=None, read_only=True)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "status", "invited_by", "created_at", "expires_at", "accepted_at"]

    def get_status(self, invitation: Invitation) -> str:
        return invitation.status(timezone.now())


class _InvitationsEndpoint(TenantEndpoint, APIView):
    readers = MANAGER_ROLES
    subject = "invitations"


class InvitationListCreateView(_InvitationsEndpoint):
    @extend_schema(responses=InvitationSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        invitations = self.scoped(Invitation).select_related("invited_by")
        return Response(InvitationSerializer(invitations, many=True).data)

    @extend_schema(request=InvitationCreateSerializer, responses={201: InvitationSerializer})
    def post(self, request: Request, slug: str) -> Response:
        """E-mails a single-use link to the address; whoever opens it signs in (or creates an
        account) and accepts. Nothing about existing accounts is looked up or told."""
        serializer = InvitationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = serializer.validated_data
        if not may_grant(actor_role=self.caller.role, role=data["role"]):
            raise PermissionDenied("only owners make, change or remove owners")
        invitation = invitation_create(
            tenant=self.caller.tenant, email=data["email"], role=data["role"], invited_by_id=request.user.pk
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class InvitationDetailView(_InvitationsEndpoint):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, pk: int) -> Response:
        """Revoke a pending invitation (its link stops working); accepted ones stay as they are."""
        invitation_revoke(invitation=self.owned_or_404(Invitation, pk), now=timezone.now())
        return Response(status=status.HTTP_204_NO_CONTENT)
