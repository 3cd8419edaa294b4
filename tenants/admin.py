from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from billing.models import ModelPrice
from tenants.experiments import ExperimentInvalid, validate_variants
from tenants.models import MODEL_FIELDS, Experiment, Invitation, Membership, Tenant, Tier, Variant
from tenants.services import config_changed
from tenants.sign_in import AdminSignInForm

admin.site.login_form = AdminSignInForm


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


class LinesField(forms.CharField):
    """A list of strings edited one per line (a JSON list in the model): ``bitcoin`` is a topic,
    not "Enter a valid JSON"."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 60})

    def prepare_value(self, value: Any) -> str:
        return "\n".join(value) if isinstance(value, list) else super().prepare_value(value)

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list):
            return value
        return [line.strip() for line in str(value or "").splitlines() if line.strip()]


# The tenant's lists, one item per line in its form.
LIST_FIELDS = [
    "blocked_topics",
    "starter_prompts",
    "allowed_image_hosts",
    "pii_keep_patterns",
    "allowed_tools",
]


class TenantForm(forms.ModelForm):  # type: ignore[type-arg]
    """Lists as lines; the models picked from the price table (a model with no price would be
    billed nothing: the model's own validation refuses it anyway)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in LIST_FIELDS:
            self.fields[name] = LinesField(
                required=False, label=self.fields[name].label, help_text="one per line"
            )
        priced = list(ModelPrice.objects.order_by("model").values_list("model", flat=True))
        for name in MODEL_FIELDS:
            current = getattr(self.instance, name, "") or ""
            choices = [(m, m) for m in priced] + (
                [(current, f"{current} (not priced)")] if current and current not in priced else []
            )
            required = name == "model"
            self.fields[name] = forms.ChoiceField(
                choices=choices if required else [("", "—"), *choices],
                required=required,
                label=self.fields[name].label,
                help_text=self.fields[name].help_text,
            )

    class Meta:
        model = Tenant
        fields = [*LIST_FIELDS, *MODEL_FIELDS]  # the admin adds its fieldsets' others


class MembershipInline(admin.TabularInline[Membership, Tenant]):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]  # found and shown by username, not a raw id


def _plain(value: Any) -> Any:
    """A form's value as the history keeps it (JSON): a related object or a number as its text."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin[Tenant]):
    form = TenantForm
    list_display = ["slug", "name", "tier", "active", "model", "created_at"]
    list_filter = ["active", "tier"]
    search_fields = ["slug", "name"]
    # A URL typed without a scheme (the alert webhook) is read as https:// (Django 6's default).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    readonly_fields = ["config_version", "created_at"]
    inlines = [MembershipInline]
    actions = ["activate", "deactivate"]
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
                    "starter_prompts",
                ]
            },
        ),
        (
            "Model routing",
            {
                "fields": [
                    "model_routing_enabled",
                    "routing_model_simple",
                    "routing_model_moderate",
                    "routing_model_complex",
                ]
            },
        ),
        (
            "Moderation and support",
            {
                "fields": [
                    "blocked_topics",
                    "pii_filter",
                    "pii_region",
                    "pii_keep_patterns",
                    "escalation_email",
                    "handoff_auto_assign",
                    "handoff_reply_minutes",
                    "handoff_on_thumbs_down",
                    "handoff_after_failures",
                    "allowed_image_hosts",
                    "members_see_usage",
                ]
            },
        ),
        (
            "Tools",
            {
                "fields": ["allowed_tools", "max_tool_rounds", "show_tool_arguments"],
                "description": "Built-in: search_knowledge, escalate_to_human, conversation_facts; "
                "and the tenant's HTTP tools (Tools), by name.",
            },
        ),
        (
            "Conversations",
            {
                "fields": [
                    "summarize_after_messages",
                    "idle_close_minutes",
                    "retention_days",
                    "audit_retention_days",
                ]
            },
        ),
        (
            "Caches",
            {
                "fields": [
                    "exact_cache_enabled",
                    "semantic_cache_enabled",
                    "semantic_cache_threshold",
                    "cache_ttl_seconds",
                    "curated_answer_threshold",
                ]
            },
        ),
        ("Alerts", {"fields": ["alert_webhook_url", "alert_webhook_secret"]}),
        (
            "Limit overrides",
            {
                "fields": [
                    "messages_per_minute_override",
                    "messages_per_hour_override",
                    "max_concurrent_streams_override",
                    "monthly_token_budget_override",
                    "member_monthly_token_budget",
                    "user_messages_per_minute",
                    "conversation_cost_cap_usd",
                    "config_version",
                ]
            },
        ),
    ]

    @admin.action(description="Activate the selected tenants")
    def activate(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        self._set_active(request, queryset, True)

    @admin.action(description="Deactivate the selected tenants (their users can no longer chat)")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        self._set_active(request, queryset, False)

    def _set_active(self, request: HttpRequest, queryset: QuerySet[Tenant], active: bool) -> None:
        for tenant in queryset:  # save(): the config version moves, so cached configs follow
            before = {"active": tenant.active}
            tenant.active = active
            tenant.save()
            config_changed(tenant_id=tenant.pk, before=before, after={"active": active})
        self.message_user(request, f"{queryset.count()} tenant(s) updated.", messages.SUCCESS)

    def save_model(self, request: HttpRequest, obj: Tenant, form: Any, change: bool) -> None:
        """Platform staff's changes go in the tenant's history too (their name, as any change's)."""
        super().save_model(request, obj, form, change)
        if change:
            config_changed(
                tenant_id=obj.pk,
                before={f: _plain(form.initial.get(f)) for f in form.changed_data},
                after={f: _plain(form.cleaned_data.get(f)) for f in form.changed_data},
            )


class VariantFormSet(forms.BaseInlineFormSet):  # type: ignore[type-arg]
    """At least two variants, exactly one control, weights summing to 100 %."""

    def clean(self) -> None:
        super().clean()
        rows = [
            (f.cleaned_data["name"], f.cleaned_data.get("is_control", False), f.cleaned_data["weight"])
            for f in self.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]
        try:
            validate_variants(rows)
        except ExperimentInvalid as exc:
            raise forms.ValidationError(str(exc)) from None


class VariantInline(admin.StackedInline[Variant, Experiment]):
    """One variant under the other (a row of seven fields and a prompt spilled past 2,000 px)."""

    model = Variant
    formset = VariantFormSet
    extra = 2
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("name", "is_control", "weight"),
                    ("model", "temperature", "max_tokens"),
                    "system_prompt",
                ]
            },
        )
    ]
    formfield_overrides = {models.TextField: {"widget": forms.Textarea(attrs={"rows": 3, "cols": 80})}}


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin[Experiment]):
    list_display = ["name", "tenant", "active", "created_at", "ended_at"]
    list_filter = ["active", "tenant"]
    search_fields = ["name", "tenant__slug"]
    readonly_fields = ["created_at", "ended_at"]
    inlines = [VariantInline]
    actions = ["end_experiment"]

    @admin.action(description="End the selected experiments")
    def end_experiment(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        ended = queryset.filter(active=True).update(active=False, ended_at=timezone.now())
        self.message_user(request, f"{ended} experiment(s) ended.", messages.SUCCESS)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Experiment]:
        return Experiment.all_tenants.select_related("tenant")

    def save_model(self, request: HttpRequest, obj: Experiment, form: Any, change: bool) -> None:
        if change and "active" in form.changed_data and not obj.active:
            obj.ended_at = timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ["user", "tenant", "role", "active", "monthly_token_budget", "created_at"]
    list_filter = ["role", "active", "tenant"]
    search_fields = ["user__username", "tenant__slug"]
    autocomplete_fields = ["user"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin[Invitation]):
    """Seen and revoked here; sent over the API (the token exists only in the e-mail)."""

    list_display = ["email", "tenant", "role", "created_at", "expires_at", "accepted_at", "revoked_at"]
    list_filter = ["role", "tenant"]
    search_fields = ["email", "tenant__slug"]
    readonly_fields = [
        "tenant",
        "email",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
    ]
    fields = [*readonly_fields, "revoked_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
