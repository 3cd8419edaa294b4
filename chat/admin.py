from django.contrib import admin
from django.utils.text import Truncator

from chat.models import Conversation, Message

TITLE_CHARS_IN_LIST = 60


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
        "short_title",
        "tenant",
        "user",
        "started_at",
        "message_count",
        "resolved",
        "escalated",
        "rating",
        "deleted",
    ]
    list_filter = ["tenant", "resolved", "escalated", ("deleted_at", admin.EmptyFieldListFilter), "variant"]
    search_fields = ["title", "user__username"]
    inlines = [MessageInline]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    @admin.display(description="title", ordering="title")
    def short_title(self, conversation: Conversation) -> str:
        """Cut, so that the list fits the page (a title is up to 200 characters)."""
        return Truncator(conversation.title).chars(TITLE_CHARS_IN_LIST) or "—"

    @admin.display(description="deleted by its user", boolean=True, ordering="deleted_at")
    def deleted(self, conversation: Conversation) -> bool:
        return conversation.deleted_at is not None
