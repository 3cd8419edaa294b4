"""``api-keys/``: a member's keys for their servers (``tenants.api_keys``). Every member makes
keys with the scopes their role may give and sees, revokes and rotates their own; owners and
admins see and revoke every key of the tenant. A key's secret is in the answer that makes it
(or rotates it) and nowhere else. An API key cannot reach these endpoints."""

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.api.access import request_membership
from tenants.api.base import ALL_ROLES, TenantEndpoint
from tenants.api_keys import KeyRefused, NewKey, key_create, key_revoke, key_rotate
from tenants.models import MANAGER_ROLES, ApiKey, ApiKeyScope, Membership


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=ApiKeyScope.choices), max_length=10)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    allowed_addresses = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, default=list, max_length=20
    )


class ApiKeySerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    status = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = [
            "id", "name", "prefix", "user", "scopes", "allowed_addresses", "expires_at", "created_at",
            "last_used_at", "last_used_ip", "revoked_at", "status",
        ]  # fmt: skip

    def get_status(self, key: ApiKey) -> str:
        if key.revoked_at is not None:
            return "revoked"
        if key.expires_at is not None and key.expires_at <= self.context["now"]:
            return "expired"
        return "active"


class NewApiKeySerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="the whole key: shown this once")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class _ApiKeysEndpoint(TenantEndpoint, APIView):
    readers = writers = ALL_ROLES
    subject = "API keys"
    key_scope = None  # a key never makes, sees or rotates keys

    def visible(self) -> Any:
        keys = self.scoped(ApiKey).select_related("user")
        if self.caller.role is not None and self.caller.role not in MANAGER_ROLES:
            keys = keys.filter(user_id=self.caller.user_id)
        return keys

    def membership(self) -> Membership:
        """The caller's membership, as the endpoint's base resolved it: keys are a member's."""
        found = request_membership(self.request)
        if found is None or found.tenant_id != self.tenant_id:
            raise PermissionDenied("API keys belong to members of the tenant")
        return found

    def created(self, new: NewKey) -> Response:
        data = NewApiKeySerializer(new.key, context={"now": timezone.now()}).data
        return Response({**data, "key": new.secret}, status=status.HTTP_201_CREATED)


def _refused(refused: KeyRefused) -> ValidationError:
    return ValidationError({refused.field: [str(refused)]})


class ApiKeyListCreateView(_ApiKeysEndpoint):
    @extend_schema(responses=ApiKeySerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(ApiKeySerializer(self.visible(), many=True, context={"now": timezone.now()}).data)

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: NewApiKeySerializer})
    def post(self, request: Request) -> Response:
        """A new key of the caller's, with scopes their role may give (``chat`` and
        ``conversations:read``: every role; ``analytics:read``: owners, admins, viewers;
        ``knowledge:write`` and ``management``: owners and admins)."""
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = serializer.validated_data
        try:
            new = key_create(membership=self.membership(), **data)
        except KeyRefused as refused:
            raise _refused(refused) from refused
        return self.created(new)


class ApiKeyRevokeView(_ApiKeysEndpoint):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, pk: int) -> Response:
        key_revoke(key=self.owned_or_404(self.visible(), pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiKeyRotateView(_ApiKeysEndpoint):
    @extend_schema(request=None, responses={201: NewApiKeySerializer})
    def post(self, request: Request, pk: int) -> Response:
        """A new secret for one of the caller's own keys; the old secret stops working now."""
        key = self.owned_or_404(self.visible().filter(user_id=self.caller.user_id), pk)
        try:
            new = key_rotate(key=key, membership=self.membership())
        except KeyRefused as refused:
            raise _refused(refused) from refused
        return self.created(new)
