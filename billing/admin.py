from django.contrib import admin

from billing.models import ModelPrice, UsageRecord


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin[ModelPrice]):
    list_display = ["model", "input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "context_tokens"]


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin[UsageRecord]):
    list_display = [
        "created_at",
        "tenant",
        "user",
        "model",
        "input_tokens",
        "output_tokens",
        "estimated",
        "cached",
        "purpose",
        "cost_usd",
    ]
    list_filter = ["tenant", "model", "purpose", "cached", "estimated"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
