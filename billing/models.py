"""Model prices and the usage ledger (the source of truth for what a tenant spent)."""

from django.conf import settings
from django.db import models

from tenants.scoping import TenantOwnedModel


class ModelPrice(models.Model):
    model = models.CharField(max_length=100, unique=True)
    input_per_mtok = models.DecimalField(max_digits=10, decimal_places=4)
    output_per_mtok = models.DecimalField(max_digits=10, decimal_places=4)
    cached_input_per_mtok = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    # How many tokens of context (system prompt, summary, history, question) a request may send.
    context_tokens = models.PositiveIntegerField(default=8000)
    # The model reads images: a chat's attached images are given to it (chat.files).
    accepts_images = models.BooleanField(default=False)

    class Meta:
        ordering = ["model"]

    def __str__(self) -> str:
        return self.model


PURPOSES = [("answer", "answer"), ("summary", "summary"), ("title", "title")]


class UsageRecord(TenantOwnedModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.SET_NULL, null=True, related_name="usage_records"
    )
    message = models.OneToOneField(
        "chat.Message", on_delete=models.SET_NULL, null=True, related_name="usage_record"
    )
    model = models.CharField(max_length=100)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cached_input_tokens = models.PositiveIntegerField(default=0)
    # True when the provider sent no usage (a cancelled stream) and we counted the text.
    estimated = models.BooleanField(default=False)
    # A response-cache hit: recorded with zero tokens.
    cached = models.BooleanField(default=False)
    # The model had no price of its own: billed at the conservative default (billing.pricing).
    priced_by_default = models.BooleanField(default=False)
    # What the tokens were for: an answer, or background work on a conversation.
    purpose = models.CharField(max_length=16, default="answer", choices=PURPOSES)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Background work names what it billed ("summary:{conversation}:{last message}"): a task
    # delivered twice (a worker died, a retry) bills it once. Answers are keyed by their message.
    idempotency_key = models.CharField(max_length=100, blank=True, default="")

    class Meta(TenantOwnedModel.Meta):
        indexes = [models.Index(fields=["tenant", "created_at"], name="usage_tenant_created")]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="usage_unique_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.input_tokens}+{self.output_tokens}"
