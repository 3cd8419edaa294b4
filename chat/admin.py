from django.contrib import admin

from chat.models import Conversation, Message


class MessageInline(admin.TabularInline[Message, Conversation]):
    model = Message
    fk_name = "conversation"
    extra = 0
    can_delete = False
    readonly_fields = [
        "id",
        "role",
        "content",
        "model",
        "input_tokens",
        "output_tokens",
        "finish_reason",
        "route",
        "cached",
        "variant",
        "ttft_ms",
        "cost_usd",
        "created_at",
    ]
    fields = tuple(readonly_fields)

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin[Conversation]):
    list_display = [
        "id",
        "tenant",
        "user",
        "title",
        "started_at",
        "message_count",
        "resolved",
        "escalated",
        "rating",
    ]
    list_filter = ["tenant", "resolved", "escalated", "variant"]
    search_fields = ["title", "user__username"]
    inlines = [MessageInline]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
