from typing import Any

from django.contrib.auth import authenticate, get_user_model
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken

from tenants import attempts
from tenants.logins import LOGIN_CLAIM, new_login_id, token_still_valid
from tenants.models import (
    HOSTNAME_PATTERN,
    MAX_STARTER_PROMPTS,
    MAX_TOKENS_PER_RESPONSE,
    MODEL_FIELDS,
    PII_KEEP_MAX_CHARS,
    PII_KEEP_MAX_PATTERNS,
    SECRET_FIELDS,
    STARTER_PROMPT_CHARS,
    TOKEN_BUDGET_MAX,
    Membership,
    Role,
    Tenant,
    Tier,
    unpriced_model_errors,
)
from tenants.selectors import active_membership
from tenants.sign_in import client_address
from tools.catalog import BUILTINS, known_names


class TokenObtainSerializer(serializers.Serializer):
    """``{username, password, tenant}`` → a JWT pair whose claims name the tenant.

    Platform staff may leave out ``tenant`` and get a staff token for the staff endpoints.
    """

    username = serializers.CharField()
    password = serializers.CharField(write_only=True, trim_whitespace=False)
    tenant = serializers.SlugField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        request = self.context["request"]
        wait = attempts.sign_in_retry_after(attrs["username"], client_address(request))
        if wait is not None:  # said before the password is even checked
            raise Throttled(wait, "too many failed sign-ins")
        user = authenticate(request, username=attrs["username"], password=attrs["password"])
        if user is None:
            raise AuthenticationFailed("wrong username or password", code="bad_credentials")
        tenant_slug = attrs.get("tenant")
        refresh = RefreshToken.for_user(user)
        refresh[LOGIN_CLAIM] = new_login_id()  # what a logout ends (tenants.logins)
        role = None
        if tenant_slug:
            membership = active_membership(user_id=user.pk, tenant_slug=tenant_slug)
            if membership is None:
                raise AuthenticationFailed(
                    "no active membership of an active tenant with that slug", code="no_membership"
                )
            refresh["tenant"] = tenant_slug
            role = membership.role
        elif not user.is_staff:
            raise serializers.ValidationError({"tenant": ["this field is required"]})
        return {
            "refresh": str(refresh),
            "access": str(refresh.access_token),
            "tenant": tenant_slug,
            "role": role,
        }


class TenantTokenRefreshSerializer(TokenRefreshSerializer):
    """A refresh is refused once the membership or the tenant it names is no longer active, its
    login ended (logout) or the password changed; it answers a new refresh token too (rotation:
    the one it used is blacklisted)."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        refresh = self.token_class(attrs["refresh"])  # type: ignore[misc]
        tenant_slug = refresh.get("tenant")
        user_id = int(refresh["user_id"])
        user: Any
        if tenant_slug is not None:
            membership = active_membership(user_id=user_id, tenant_slug=tenant_slug)
            if membership is None:
                raise AuthenticationFailed("membership or tenant is no longer active")
            user = membership.user
        else:
            user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
        if user is None or not token_still_valid(refresh, user):
            raise AuthenticationFailed(
                "this sign-in has ended (logout or password change)", code="token_revoked"
            )
        return super().validate(attrs)


class LogoutSerializer(serializers.Serializer):
    refresh = serializers.CharField(help_text="the refresh token of the sign-in to end")


class TenantSerializer(serializers.ModelSerializer):
    tier = serializers.SlugRelatedField(slug_field="slug", queryset=Tier.objects.all())

    class Meta:
        model = Tenant
        fields = ["slug", "name", "tier", "active", "created_at"]
        read_only_fields = ["active", "created_at"]


class MemberCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    password = serializers.CharField(
        write_only=True, required=False, trim_whitespace=False, style={"input_type": "password"}
    )
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)


class MemberUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    active = serializers.BooleanField(required=False)
    monthly_token_budget = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=TOKEN_BUDGET_MAX,
        help_text="null: the tenant's default for members",
    )


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    email = serializers.EmailField(source="user.email")
    tenant = serializers.CharField(source="tenant.slug")

    class Meta:
        model = Membership
        fields = ["id", "username", "email", "role", "active", "monthly_token_budget", "tenant", "created_at"]


class TenantConfigSerializer(serializers.ModelSerializer):
    """What a tenant's owners and admins set: the assistant, moderation, caches, conversations.
    Limits and the tier stay with platform staff (the admin)."""

    blocked_topics = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=500, required=False
    )
    starter_prompts = serializers.ListField(
        child=serializers.CharField(max_length=STARTER_PROMPT_CHARS),
        max_length=MAX_STARTER_PROMPTS,
        required=False,
        help_text="questions offered as buttons in an empty chat",
    )
    allowed_image_hosts = serializers.ListField(
        child=serializers.RegexField(HOSTNAME_PATTERN, max_length=253), max_length=20, required=False
    )
    allowed_tools = serializers.ListField(
        child=serializers.CharField(max_length=64), max_length=64, required=False
    )
    pii_keep_patterns = serializers.ListField(
        child=serializers.CharField(max_length=PII_KEEP_MAX_CHARS),
        max_length=PII_KEEP_MAX_PATTERNS,
        required=False,
        help_text='kept from PII redaction: "#" a digit, "?" a letter or digit, "*" a run of them',
    )

    class Meta:
        model = Tenant
        fields = [
            "system_prompt",
            "model",
            "fallback_model",
            "model_routing_enabled",
            "routing_model_simple",
            "routing_model_moderate",
            "routing_model_complex",
            "temperature",
            "max_tokens_per_response",
            "max_message_chars",
            "custom_greeting",
            "starter_prompts",
            "blocked_topics",
            "allowed_image_hosts",
            "pii_filter",
            "pii_region",
            "pii_keep_patterns",
            "escalation_email",
            "handoff_auto_assign",
            "handoff_reply_minutes",
            "handoff_on_thumbs_down",
            "handoff_after_failures",
            "members_see_usage",
            "allowed_tools",
            "max_tool_rounds",
            "show_tool_arguments",
            "alert_webhook_url",
            "alert_webhook_secret",
            "member_monthly_token_budget",
            "exact_cache_enabled",
            "semantic_cache_enabled",
            "semantic_cache_threshold",
            "cache_ttl_seconds",
            "curated_answer_threshold",
            "summarize_after_messages",
            "idle_close_minutes",
            "retention_days",
            "audit_retention_days",
            "orphan_grace_seconds",
            "config_version",
        ]
        read_only_fields = ["config_version"]
        extra_kwargs = {
            "temperature": {"min_value": 0.0, "max_value": 2.0},
            "max_tokens_per_response": {"min_value": 1, "max_value": MAX_TOKENS_PER_RESPONSE},
            "max_message_chars": {"min_value": 1, "max_value": 32_000},
            "semantic_cache_threshold": {"min_value": 0.5, "max_value": 1.0},
            "curated_answer_threshold": {"min_value": 0.5, "max_value": 1.0},
            "cache_ttl_seconds": {"min_value": 1, "max_value": 30 * 86400},
            "summarize_after_messages": {"min_value": 4, "max_value": 1000},
            "orphan_grace_seconds": {"min_value": 1, "max_value": 3600},
            "max_tool_rounds": {"min_value": 0, "max_value": 8},
            **{field: {"write_only": True} for field in SECRET_FIELDS},
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors = unpriced_model_errors({f: attrs[f] for f in MODEL_FIELDS if f in attrs})
        if "allowed_tools" in attrs:
            assert self.instance is not None  # the config is only ever updated
            known = known_names(tenant_id=self.instance.pk)
            unknown = sorted(set(attrs["allowed_tools"]) - known)
            if unknown:
                errors["allowed_tools"] = (
                    f"no such tool: {', '.join(unknown)} (built-in: {', '.join(sorted(BUILTINS))}; "
                    "or one of the tenant's tools)"
                )
            attrs["allowed_tools"] = sorted(set(attrs["allowed_tools"]))
        if errors:
            raise serializers.ValidationError(errors)
        return attrs
