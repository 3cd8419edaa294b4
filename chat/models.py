"""Conversations and their messages."""

from django.conf import settings
from django.db import models

from tenants.scoping import TenantOwnedModel


class Handoff(models.TextChoices):
    BOT = "", "the assistant"
    WAITING = "waiting", "waiting for a human"
    HUMAN = "human", "held by an agent"


class Conversation(TenantOwnedModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    summary = models.TextField(blank=True)
    # The summary covers the messages up to this id (chat.tasks.summarize_conversation).
    summary_upto_id = models.BigIntegerField(null=True, blank=True)
    summary_message_count = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    message_count = models.PositiveIntegerField(default=0)
    resolved = models.BooleanField(default=False)
    resolved_at = models.DateTimeField(null=True, blank=True)
    escalated = models.BooleanField(default=False)
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalation_reason = models.TextField(blank=True)
    escalation_emailed_at = models.DateTimeField(null=True, blank=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    # Who answers it: the bot, or (after an escalation) a human, first waiting for one, then held
    # by the agent who took it (``inbox``).
    handoff = models.CharField(max_length=8, choices=Handoff.choices, blank=True, default=Handoff.BOT)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    first_human_reply_at = models.DateTimeField(null=True, blank=True)
    # Deleted by its user: hidden from them, kept for the tenant until its retention purges it.
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The A/B variant the conversation's user was in when it started (tenants.experiments).
    variant = models.ForeignKey(
        "tenants.Variant", on_delete=models.SET_NULL, null=True, blank=True, related_name="conversations"
    )
    # Its channel: the website widget site a visitor held it on (None: the chat page or a client
    # of the protocol). No constraint: a deleted site's conversations stay the tenant's and keep
    # their channel (the id then names no row, as ``Message.curated_answer``'s may).
    site = models.ForeignKey(
        "widget.Site",
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )

    class Meta(TenantOwnedModel.Meta):
        indexes = [models.Index(fields=["tenant", "user", "-started_at"], name="conv_tenant_user")]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Role(models.TextChoices):
    USER = "user"
    ASSISTANT = "assistant"
    # A human of the tenant's support team who holds the conversation (``author``).
    AGENT = "agent"


class FinishReason(models.TextChoices):
    STOP = "stop"
    LENGTH = "length"
    CANCELLED = "cancelled"
    ERROR = "error"


class Message(TenantOwnedModel):
    """One turn. Ids are allocated before a generation streams (see ``chat.history.ids``)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    # The user message an answer replies to.
    reply_to = models.OneToOneField(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="answer"
    )
    # The user message of the turn that replaced this message's turn (Regenerate, or edit and
    # resend, of the last answer): it left the model's context and stays as an earlier version;
    # null: the current one. Set in the replacing turn's transaction; no constraint, as for
    # ``curated_answer``, and no index (read with the conversation's messages only).
    replaced_by = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    # Client-chosen id of a user message: a replay after a reconnect is answered from storage.
    client_id = models.UUIDField(null=True, blank=True)
    # The agent who wrote it (role ``agent``).
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    model = models.CharField(max_length=100, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cached_input_tokens = models.PositiveIntegerField(default=0)
    tokens_estimated = models.BooleanField(default=False)
    variant = models.ForeignKey(
        "tenants.Variant", on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    # Answered from the tenant's response cache: no upstream call, no tokens.
    cached = models.BooleanField(default=False)
    # The tenant's curated answer it was (``cached`` too): the entry's hits are these messages.
    # No constraint in the database: an entry deleted while its answer was being given must not
    # fail the batch of turns written with it (chat.history.recorder); the id then names nothing.
    curated_answer = models.ForeignKey(
        "knowledge.CuratedAnswer",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    # The routing class the message was sorted into (chat.gateway.model_routing), on the answer.
    route = models.CharField(max_length=16, blank=True)
    # The model the turn was meant for, when the circuit breaker sent it to the fallback model.
    fallback_from = models.CharField(max_length=100, blank=True)
    # The knowledge-base passages the answer was given, as cited ([n]): knowledge.retrieval.Passage.source.
    sources = models.JSONField(default=list, blank=True)
    # The tools the model called for this answer (chat.turns.stream): name, status, arguments, ...
    tool_calls = models.JSONField(default=list, blank=True)
    finish_reason = models.CharField(max_length=16, choices=FinishReason.choices, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    # CSAT given to an answer (1..5) and the optional comment that came with it.
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    feedback_comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "client_id"],
                condition=models.Q(client_id__isnull=False),
                name="message_unique_client_id",
            )
        ]
        indexes = [models.Index(fields=["conversation", "id"], name="message_conversation_id")]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"


class TenantStatsFigures(TenantOwnedModel):
    """The figures of one tenant's period (a day, an hour), written by ``chat.analytics``."""

    conversations = models.PositiveIntegerField(default=0)
    answers = models.PositiveIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0)
    escalated = models.PositiveIntegerField(default=0)
    csat_count = models.PositiveIntegerField(default=0)
    csat_sum = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    cost_by_model = models.JSONField(default=dict)  # model -> USD (string)
    model_mix = models.JSONField(default=dict)  # model -> answers
    cache_hits = models.PositiveIntegerField(default=0)
    ttft_p50_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_p95_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_p50_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_p95_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_p99_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_p99_ms = models.PositiveIntegerField(null=True, blank=True)
    # Answers that ended in an error, and messages refused (by error code: chat.events).
    errors = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)
    refused_by_code = models.JSONField(default=dict)
    # Users with a message in the period (the tenant's total row only).
    active_users = models.PositiveIntegerField(default=0)
    # Safety: messages refused for a blocked topic, PII items redacted.
    blocked_topics = models.PositiveIntegerField(default=0)
    pii_redactions = models.PositiveIntegerField(default=0)
    # By channel (the tenant's total row only): "chat" (the chat page and protocol clients) and
    # "site:<id>" (a website widget site), each {conversations, answers, resolved, escalated,
    # csat_count, csat_sum, cost_usd} (chat.analytics._channel_figures).
    by_channel = models.JSONField(default=dict)
    # Who answered (the tenant's total row only): requests for a person, conversations a person
    # replied in ("human") or not ("bot"), resolved and rated in each, and the time from the
    # request to a person's first reply, p50 and p90 in seconds (chat.analytics._HandoffFigures).
    handoff = models.JSONField(default=dict)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwnedModel.Meta):
        abstract = True


class DailyTenantStats(TenantStatsFigures):
    """One tenant's day (UTC), in total (``variant`` empty) and per experiment variant; read by
    the analytics API, the tenant console and the experiments' results."""

    day = models.DateField()
    variant = models.ForeignKey(
        "tenants.Variant", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # Users with a message in the seven days up to this one (the tenant's total row only).
    weekly_active_users = models.PositiveIntegerField(default=0)

    class Meta(TenantOwnedModel.Meta):
        ordering = ["day"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "day", "variant"], name="stats_unique_day_variant"),
            models.UniqueConstraint(
                fields=["tenant", "day"],
                condition=models.Q(variant__isnull=True),
                name="stats_unique_day_total",
            ),
        ]


class HourlyTenantStats(TenantStatsFigures):
    """One tenant's hour (UTC), in total: what a day hides (a slow or failing hour), kept for
    ``chat.analytics.HOURLY_KEEP_DAYS``."""

    hour = models.DateTimeField()

    class Meta(TenantOwnedModel.Meta):
        ordering = ["hour"]
        constraints = [models.UniqueConstraint(fields=["tenant", "hour"], name="stats_unique_hour")]


class ChatFile(TenantOwnedModel):
    """A file a user attached to a chat message (``chat.files``): uploaded first (unbound), then
    bound to the conversation and the message that carried it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, null=True, blank=True, related_name="files"
    )
    message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="files"
    )
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size_bytes = models.PositiveIntegerField()
    # The name in the attachments storage: t{tenant}/u{user}/{uuid}/{filename}.
    key = models.CharField(max_length=500)
    # The text the model reads (documents); empty for an image.
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        indexes = [
            models.Index(fields=["tenant", "conversation"], name="chatfile_conversation"),
            # A member's uploads of the last minute (chat.files' uploads a minute).
            models.Index(fields=["tenant", "user", "created_at"], name="chatfile_uploads"),
        ]

    def __str__(self) -> str:
        return self.filename


class TenantEventCount(TenantOwnedModel):
    """How many times something happened to a tenant in an hour (UTC) that no stored row records:
    a message refused (``refused:<code>``), a blocked topic, a PII redaction (``chat.events``)."""

    hour = models.DateTimeField()
    name = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=0)

    class Meta(TenantOwnedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "hour", "name"], name="event_count_unique")]
