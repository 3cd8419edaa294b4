"""``/api/v1/sites/``: the caller's tenant's widget sites. Owners and admins create, change and
delete them; viewers read them. The public ``key`` is made by the platform and never changes;
``allowed_domains`` are where the widget may be embedded. The ``identity_secret`` (verified
visitors' tokens are signed with it) is shown to owners and admins when the site is made and when
``rotate-secret/`` replaces it, never in a read. Another tenant's site id is a 404."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.api.base import TenantEndpoint, taken_in_tenant
from tenants.api.errors import Conflict
from widget.models import Site
from widget.services import TooManySites, site_create, site_delete, site_rotate_secret, site_update


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = [
            "id",
            "key",
            "name",
            "enabled",
            "allowed_domains",
            "title",
            "color",
            "logo_url",
            "launcher_text",
            "greeting",
            "starter_prompts",
            "position",
            "theme",
            "language",
            "require_verification",
            "identity_secret_rotated_at",
            "visitor_messages_per_minute",
            "visitor_conversations_per_hour",
            "address_messages_per_minute",
            "address_conversations_per_hour",
            "daily_message_cap",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "key", "identity_secret_rotated_at", "created_at", "updated_at"]

    def validate_name(self, name: str) -> str:
        if taken_in_tenant(self.context["sites"], self.instance, name=name):
            raise serializers.ValidationError("the tenant has a site of that name")
        return name


class SiteCreatedSerializer(SiteSerializer):
    """A new site, with its identity secret: shown once, as ``rotate-secret/`` shows a new one."""

    class Meta(SiteSerializer.Meta):
        fields = [*SiteSerializer.Meta.fields, "identity_secret"]


class SecretSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = ["identity_secret", "identity_secret_rotated_at"]


class _SitesEndpoint(TenantEndpoint, APIView):
    subject = "widget sites"


class SiteListView(_SitesEndpoint):
    @extend_schema(responses=SiteSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(SiteSerializer(self.scoped(Site).order_by("name"), many=True).data)

    @extend_schema(request=SiteSerializer, responses={201: SiteCreatedSerializer})
    def post(self, request: Request) -> Response:
        body = SiteSerializer(data=request.data, context={"sites": self.scoped(Site)})
        body.is_valid(raise_exception=True)
        try:
            site = site_create(tenant=self.caller.tenant, fields=dict(body.validated_data))
        except TooManySites as refused:
            raise Conflict(str(refused)) from None
        return Response(SiteCreatedSerializer(site).data, status=status.HTTP_201_CREATED)


class SiteDetailView(_SitesEndpoint):
    @extend_schema(responses=SiteSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(SiteSerializer(self.owned_or_404(Site, pk)).data)

    @extend_schema(request=SiteSerializer, responses=SiteSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        site = self.owned_or_404(Site, pk)
        body = SiteSerializer(site, data=request.data, partial=True, context={"sites": self.scoped(Site)})
        body.is_valid(raise_exception=True)
        return Response(SiteSerializer(site_update(site=site, fields=dict(body.validated_data))).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        site_delete(site=self.owned_or_404(Site, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SiteSecretView(_SitesEndpoint):
    """The secret the tenant's server signs verified visitors' identity tokens with (HS256),
    replaced by a new one: identity tokens signed with the old one are refused from now on."""

    readers = frozenset()  # POST only: owners and admins

    @extend_schema(request=None, responses=SecretSerializer)
    def post(self, request: Request, pk: int) -> Response:
        return Response(SecretSerializer(site_rotate_secret(site=self.owned_or_404(Site, pk))).data)
