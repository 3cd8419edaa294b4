"""``/api/v1/sso/``: the tenant's single sign-on (owners and admins): its OpenID Connect
provider, who may sign in through it and with which role. The client secret is written, never
read back (``client_secret_set`` says whether one is saved). The sign-in pages: ``/sso/``."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from sso.models import Connection
from sso.services import connection_delete, connection_save
from tenants.api.base import TenantEndpoint
from tenants.models import PROVIDER_ROLES

_DOMAIN = r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"


class ConnectionSerializer(serializers.ModelSerializer):
    client_secret = serializers.CharField(
        write_only=True, required=False, max_length=500, help_text="written, never read back"
    )
    client_secret_set = serializers.SerializerMethodField()
    allowed_domains = serializers.ListField(
        child=serializers.RegexField(_DOMAIN, max_length=253), required=False, max_length=50
    )
    role_map = serializers.DictField(
        child=serializers.ChoiceField(choices=PROVIDER_ROLES), required=False, help_text="{group: role}"
    )
    sign_in_url = serializers.SerializerMethodField()

    class Meta:
        model = Connection
        fields = [
            "issuer", "client_id", "client_secret", "client_secret_set", "allowed_domains", "role_claim",
            "role_map", "default_role", "enabled", "sso_only", "sign_in_url", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["created_at", "updated_at"]

    def get_client_secret_set(self, connection: Connection) -> bool:
        return bool(connection.client_secret)

    def get_sign_in_url(self, connection: Connection) -> str:
        return f"/sso/{connection.tenant.slug}/"

    def validate_allowed_domains(self, domains: list[str]) -> list[str]:
        return sorted({domain.lower() for domain in domains})

    def validate_role_map(self, role_map: dict[str, str]) -> dict[str, str]:
        if len(role_map) > 100 or any(len(group) > 200 or not group.isprintable() for group in role_map):
            raise ValidationError("at most 100 groups, each named in at most 200 printable characters")
        return role_map


class SsoView(TenantEndpoint, APIView):
    subject = "single sign-on"

    def connection(self) -> Connection:
        found = self.scoped(Connection).select_related("tenant").first()
        if found is None:
            raise NotFound("no single sign-on is set up")
        return found

    @extend_schema(responses=ConnectionSerializer)
    def get(self, request: Request) -> Response:
        return Response(ConnectionSerializer(self.connection()).data)

    @extend_schema(request=ConnectionSerializer, responses=ConnectionSerializer)
    def put(self, request: Request) -> Response:
        """Set up or change the provider; leave ``client_secret`` out to keep the saved one (it is
        required the first time). The issuer's discovery document is read at the first sign-in."""
        existing = self.scoped(Connection).first()
        serializer = ConnectionSerializer(existing, data=request.data, partial=existing is not None)
        serializer.is_valid(raise_exception=True)
        fields: dict[str, Any] = dict(serializer.validated_data)
        if existing is None and not fields.get("client_secret"):
            raise ValidationError({"client_secret": ["required when single sign-on is first set up"]})
        try:
            connection = connection_save(tenant=self.caller.tenant, fields=fields)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        return Response(ConnectionSerializer(connection).data, status=status.HTTP_200_OK)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        """Single sign-on off: its people keep their accounts (and find them again if it is set
        up again); those without a password sign in no more until then."""
        connection_delete(connection=self.connection())
        return Response(status=status.HTTP_204_NO_CONTENT)
