from django.contrib import admin

from tenants.models import Membership, Tenant, Tier


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin[Tier]):
    list_display = [
        "slug",
        "name",
        "messages_per_minute",
        "messages_per_hour",
        "max_concurrent_streams",
        "monthly_token_budget",
    ]


class MembershipInline(admin.TabularInline[Membership, Tenant]):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin[Tenant]):
    list_display = ["slug", "name", "tier", "active", "model", "created_at"]
    list_filter = ["active", "tier"]
    search_fields = ["slug", "name"]
    readonly_fields = ["config_version", "created_at"]
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["slug", "name", "tier", "active", "created_at"]}),
        (
            "Assistant",
            {
                "fields": [
                    "system_prompt",
                    "model",
                    "fallback_model",
                    "temperature",
                    "max_tokens_per_response",
                    "max_message_chars",
                    "custom_greeting",
                ]
            },
        ),
        (
            "Model routing",
            {"fields": ["routing_model_simple", "routing_model_moderate", "routing_model_complex"]},
        ),
        ("Moderation and support", {"fields": ["blocked_topics", "pii_filter", "escalation_email"]}),
        (
            "Caches",
            {
                "fields": [
                    "exact_cache_enabled",
                    "semantic_cache_enabled",
                    "semantic_cache_threshold",
                    "cache_ttl_seconds",
                ]
            },
        ),
        (
            "Limit overrides",
            {
                "fields": [
                    "messages_per_minute_override",
                    "messages_per_hour_override",
                    "max_concurrent_streams_override",
                    "monthly_token_budget_override",
                    "user_messages_per_minute",
                    "conversation_cost_cap_usd",
                    "config_version",
                ]
            },
        ),
    ]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ["user", "tenant", "role", "active", "created_at"]
    list_filter = ["role", "active", "tenant"]
    search_fields = ["user__username", "tenant__slug"]
    raw_id_fields = ["user"]
