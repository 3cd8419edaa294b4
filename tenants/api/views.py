"""Auth, tenants and members. Tenant lookups answer 404 for what the caller may not see."""

from typing import Any

from django.core.exceptions import ValidationError as PasswordError
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import (
    AuthenticationFailed,
    PermissionDenied,
    Throttled,
    ValidationError,
)
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenRefreshView as BaseTokenRefreshView

from tenants.api.access import IsPlatformStaff, request_membership
from tenants.api.base import TenantEndpoint
from tenants.api.errors import Conflict
from tenants.api.serializers import (
    LogoutSerializer,
    MemberCreateSerializer,
    MembershipSerializer,
    MemberUpdateSerializer,
    TenantConfigSerializer,
    TenantSerializer,
    TenantTokenRefreshSerializer,
    TokenObtainSerializer,
)
from tenants.logins import LOGIN_CLAIM, login_end
from tenants.models import MANAGER_ROLES, Membership, Tenant
from tenants.selectors import forget_chat_configs
from tenants.services import (
    LastOwner,
    OwnersOnly,
    TooManyTaken,
    UsernameTaken,
    config_changed,
    may_grant,
    member_add,
    member_remove,
    member_update,
    tenant_create,
)


class TokenObtainView(generics.GenericAPIView):
    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []
    serializer_class = TokenObtainSerializer

    def get_authenticate_header(self, request: Request) -> str:
        # Bad credentials are a 401 (DRF answers 403 when no header can be named).
        return 'Bearer realm="api"'

    def post(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class TokenRefreshView(BaseTokenRefreshView):
    serializer_class = TenantTokenRefreshSerializer  # type: ignore[assignment]


class LogoutView(generics.GenericAPIView):
    """``auth/logout/``: ends the sign-in the refresh token belongs to: the token is blacklisted,
    access tokens of that sign-in are refused, its chat sockets close (4401). Other sign-ins of
    the user stay. Holding the refresh token is the authority to end it."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []
    serializer_class = LogoutSerializer

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'

    @extend_schema(responses={204: None})
    def post(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            refresh = RefreshToken(serializer.validated_data["refresh"])  # type: ignore[arg-type]
        except TokenError as exc:
            raise AuthenticationFailed(str(exc), code="token_not_valid") from None
        login_end(int(refresh["user_id"]), refresh.get(LOGIN_CLAIM), refresh=refresh)
        return Response(status=status.HTTP_204_NO_CONTENT)


class _TenantAdminEndpoint(TenantEndpoint, APIView):
    """The tenant the URL names, for its owners and admins (and platform staff)."""

    readers = MANAGER_ROLES


class TenantListCreateView(generics.ListCreateAPIView):
    serializer_class = TenantSerializer

    def get_permissions(self) -> Any:
        return [IsPlatformStaff()] if self.request.method == "POST" else super().get_permissions()

    def get_queryset(self) -> Any:
        if self.request.user.is_staff:
            return Tenant.objects.select_related("tier").all()
        membership = request_membership(self.request)
        if membership is None:
            return Tenant.objects.none()
        return Tenant.objects.select_related("tier").filter(pk=membership.tenant_id)

    def perform_create(self, serializer: TenantSerializer) -> None:  # type: ignore[override]
        data = serializer.validated_data
        serializer.instance = tenant_create(slug=data["slug"], name=data["name"], tier=data["tier"])


def _settings(tenant: Tenant) -> dict[str, Any]:
    """What people set in the tenant's configuration (not what follows from it: its version),
    secrets included, for the history (which never shows a secret's value)."""
    serializer = TenantConfigSerializer(tenant)
    shown = serializer.data  # as the API shows them; a write-only one as the model holds it (same name)
    return {
        name: shown[name] if name in shown else getattr(tenant, name)
        for name, field in serializer.fields.items()
        if not field.read_only
    }


class TenantConfigView(_TenantAdminEndpoint):
    """``tenants/{slug}/config/``: the tenant's configuration, for its owners and admins (and
    platform staff). Every change moves the config version, which every cache is keyed by."""

    subject = "the tenant's configuration"

    @extend_schema(responses=TenantConfigSerializer)
    def get(self, request: Request, slug: str) -> Response:
        return Response(TenantConfigSerializer(self.caller.tenant).data)

    @extend_schema(request=TenantConfigSerializer, responses=TenantConfigSerializer)
    def patch(self, request: Request, slug: str) -> Response:
        serializer = TenantConfigSerializer(self.caller.tenant, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            before = _settings(self.caller.tenant)
            tenant = serializer.save()
            config_changed(tenant_id=tenant.pk, before=before, after=_settings(tenant))
        forget_chat_configs()
        return Response(TenantConfigSerializer(tenant).data)


class TenantMembersView(_TenantAdminEndpoint):
    subject = "the tenant's members"

    @extend_schema(responses=MembershipSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        members = self.scoped(Membership).select_related("user", "tenant")
        return Response(MembershipSerializer(members.order_by("id"), many=True).data)

    @extend_schema(request=MemberCreateSerializer, responses={201: MembershipSerializer})
    def post(self, request: Request, slug: str) -> Response:
        """A new account and its membership. An existing account joins by invitation
        (``invitations/``): it is never bound, nor described, by another tenant's admin."""
        tenant = self.caller.tenant
        serializer = MemberCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if not may_grant(actor_role=self.caller.role, role=data["role"]):
            raise PermissionDenied("only owners make, change or remove owners")
        try:
            membership = member_add(
                tenant=tenant,
                username=data["username"],
                email=data["email"],
                password=data.get("password"),
                role=data["role"],
                actor_id=request.user.pk or 0,
            )
        except PasswordError as exc:
            raise ValidationError({"password": exc.messages}) from None
        except TooManyTaken as throttled:
            raise Throttled(throttled.retry_after, "too many taken usernames") from None
        except UsernameTaken:
            raise ValidationError(
                {
                    "username": [
                        "this username is taken: an existing account joins by invitation "
                        f"(POST /api/v1/tenants/{tenant.slug}/invitations/ with its e-mail address)"
                    ]
                }
            ) from None
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class TenantMemberDetailView(_TenantAdminEndpoint):
    """``tenants/{slug}/members/{id}/``: change a member's role or remove them (owners and
    admins; only owners touch owners; the last active owner stays)."""

    subject = "the tenant's members"

    def _membership(self, pk: int) -> Membership:
        return self.owned_or_404(self.scoped(Membership).select_related("user", "tenant"), pk)

    def _change(self, change: Any) -> None:
        try:
            change()
        except OwnersOnly:
            raise PermissionDenied("only owners make, change or remove owners") from None
        except LastOwner:
            raise Conflict(
                "the tenant's last active owner cannot be demoted, deactivated or removed"
            ) from None

    @extend_schema(request=MemberUpdateSerializer, responses=MembershipSerializer)
    def patch(self, request: Request, slug: str, pk: int) -> Response:
        membership, actor_role = self._membership(pk), self.caller.role
        serializer = MemberUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self._change(
            lambda: member_update(actor_role=actor_role, membership=membership, **serializer.validated_data)
        )
        return Response(MembershipSerializer(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, pk: int) -> Response:
        membership, actor_role = self._membership(pk), self.caller.role
        self._change(lambda: member_remove(actor_role=actor_role, membership=membership))
        return Response(status=status.HTTP_204_NO_CONTENT)
