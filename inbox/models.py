"""What the support team's inbox keeps besides the conversation: which agents have the inbox
open (their presence), and the private notes agents leave each other on a conversation."""

from django.conf import settings
from django.db import models

from tenants.scoping import TenantOwnedModel


class AgentSocket(TenantOwnedModel):
    """One open inbox socket (``inbox.consumers``). An agent is online while one of theirs is
    fresh (seen within ``inbox.presence.FRESH``, renewed by the heartbeat) and not away; a row an
    instance's crash left behind goes stale and is swept (``inbox.tasks``)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel_name = models.CharField(max_length=200, unique=True)
    away = models.BooleanField(default=False)
    seen_at = models.DateTimeField()

    class Meta(TenantOwnedModel.Meta):
        indexes = [models.Index(fields=["tenant", "seen_at"])]


class Note(TenantOwnedModel):
    """A private note on a conversation, between agents: never in the user's view, the bot's
    context, the history's exports or any frame of the user's sockets (it is not a message)."""

    conversation = models.ForeignKey("chat.Conversation", on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    content = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        indexes = [models.Index(fields=["tenant", "conversation", "id"])]


class Assignment(TenantOwnedModel):
    """Each time a conversation went to an agent: who held it, since when and how. The round
    robin reads it (the online agent assigned longest ago is next), and so does the history."""

    class How(models.TextChoices):
        AUTO = "auto", "round robin"
        TAKEN = "taken", "taken by the agent"
        ASSIGNED = "assigned", "assigned by an owner or admin"
        REASSIGNED = "reassigned", "reassigned: no reply in time"

    conversation = models.ForeignKey("chat.Conversation", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    how = models.CharField(max_length=10, choices=How.choices)
    created_at = models.DateTimeField()

    class Meta(TenantOwnedModel.Meta):
        indexes = [models.Index(fields=["tenant", "agent", "created_at"])]
