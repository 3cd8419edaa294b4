"""Tiers, tenants with their assistant configuration, and memberships."""

import re
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from billing.selectors import unpriced_models
from infra.outbound import validate_outbound_url
from tenants.scoping import TenantOwnedModel

# What a number a client or staff sets may be: within its column and its meaning (issue 30, 7).
# A month's tokens: a trillion is far past any plan, and well inside the integers Redis's Lua
# scripts (doubles) and a JavaScript client keep exact (2^53).
TOKEN_BUDGET_MAX = 10**12
TOKEN_BUDGET = [MaxValueValidator(TOKEN_BUDGET_MAX)]
MAX_TOKENS_PER_RESPONSE = 32_000
IDLE_CLOSE_MAX_MINUTES = 366 * 24 * 60
RETENTION_MAX_DAYS = 100 * 366
# The audit log is kept a year unless the tenant says otherwise, and never less than a month.
AUDIT_RETENTION_DEFAULT_DAYS = 365
AUDIT_RETENTION_MIN_DAYS = 30


PII_KEEP_MAX_PATTERNS = 20
PII_KEEP_MAX_CHARS = 100


def validate_phone_region(region: str) -> None:
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(
            f"{region!r} is not a region code phone numbers know (ISO 3166, e.g. US, DE, GB)"
        )


def validate_keep_patterns(patterns: Any) -> None:
    if not isinstance(patterns, list) or len(patterns) > PII_KEEP_MAX_PATTERNS:
        raise ValidationError(f"a list of at most {PII_KEEP_MAX_PATTERNS} templates")
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern.strip() or len(pattern) > PII_KEEP_MAX_CHARS:
            raise ValidationError(f"each template is text of 1 to {PII_KEEP_MAX_CHARS} characters")


# Settings written, never read back (the API's write-only fields; the history says they
# changed, never their value).
SECRET_FIELDS = frozenset({"alert_webhook_secret"})

# Questions offered as buttons in an empty chat (the chat page's, a widget site's).
MAX_STARTER_PROMPTS = 4
STARTER_PROMPT_CHARS = 100


def validate_starter_prompts(prompts: object) -> None:
    if not isinstance(prompts, list) or not all(isinstance(p, str) and p.strip() for p in prompts):
        raise ValidationError("a list of non-empty strings")
    if len(prompts) > MAX_STARTER_PROMPTS:
        raise ValidationError(f"at most {MAX_STARTER_PROMPTS} starter prompts")
    if any(len(p) > STARTER_PROMPT_CHARS for p in prompts):
        raise ValidationError(f"each starter prompt at most {STARTER_PROMPT_CHARS} characters")


class Tier(models.Model):
    """A plan: the limits a tenant buys. ``None`` means unlimited."""

    slug = models.SlugField(unique=True, max_length=32)
    name = models.CharField(max_length=64)
    messages_per_minute = models.PositiveIntegerField()
    messages_per_hour = models.PositiveIntegerField(null=True, blank=True)
    max_concurrent_streams = models.PositiveIntegerField()
    monthly_token_budget = models.PositiveBigIntegerField(null=True, blank=True, validators=TOKEN_BUDGET)
    # Chat sockets open at once: for one user, and for the whole tenant.
    max_sockets_per_user = models.PositiveIntegerField(null=True, blank=True, default=10)
    max_sockets = models.PositiveIntegerField(null=True, blank=True, default=100)
    # The knowledge base: the largest document, and how many documents (None: no cap).
    knowledge_max_document_bytes = models.PositiveIntegerField(default=2_000_000)
    knowledge_max_documents = models.PositiveIntegerField(null=True, blank=True, default=100)
    # The largest file a user may attach to a chat message.
    attachment_max_bytes = models.PositiveIntegerField(default=5_000_000)
    # Files uploaded and not yet sent in a message (kept up to a day): how many, and their bytes,
    # one member and the whole tenant may hold; and uploads a member may make a minute (None: no
    # cap). Sent files belong to their conversation and its retention.
    attachment_uploads_per_minute = models.PositiveIntegerField(null=True, blank=True, default=10)
    attachment_unsent_files_per_member = models.PositiveIntegerField(null=True, blank=True, default=20)
    attachment_unsent_bytes_per_member = models.PositiveBigIntegerField(
        null=True, blank=True, default=20_000_000
    )
    attachment_unsent_files = models.PositiveIntegerField(null=True, blank=True, default=200)
    attachment_unsent_bytes = models.PositiveBigIntegerField(null=True, blank=True, default=200_000_000)

    class Meta:
        ordering = ["messages_per_minute"]

    def __str__(self) -> str:
        return self.name


# The tenant's fields that name a model: each must have a price (billing.ModelPrice), or its
# answers would be billed nothing.
MODEL_FIELDS = (
    "model",
    "fallback_model",
    "routing_model_simple",
    "routing_model_moderate",
    "routing_model_complex",
)


def unpriced_model_errors(values: dict[str, str]) -> dict[str, str]:
    """A message per field of ``values`` (of ``MODEL_FIELDS``) naming a model with no price."""
    unpriced = unpriced_models(values.values())
    return {
        field: f"no price is set for the model {name!r}: platform staff add it to the model prices first"
        for field, name in values.items()
        if name in unpriced
    }


# A host name as a CSP source may name it (letters, digits, hyphens, dots; no scheme, port, path).
HOSTNAME_PATTERN = r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$"


class Tenant(models.Model):
    slug = models.SlugField(unique=True, max_length=50)
    name = models.CharField(max_length=200)
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="tenants")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # The assistant.
    system_prompt = models.TextField(default="You are a helpful, concise support assistant.")
    model = models.CharField(max_length=100, default="gpt-4o-mini")
    fallback_model = models.CharField(max_length=100, blank=True)
    # Model routing (chat.gateway.model_routing): off, every message goes to ``model``; on, each
    # class goes to its model (blank: ``model``), e.g. simple ones to a cheaper model.
    model_routing_enabled = models.BooleanField(default=True)
    routing_model_simple = models.CharField(max_length=100, blank=True)
    routing_model_moderate = models.CharField(max_length=100, blank=True)
    routing_model_complex = models.CharField(max_length=100, blank=True)
    temperature = models.FloatField(default=0.7)
    max_tokens_per_response = models.PositiveIntegerField(default=1024)
    max_message_chars = models.PositiveIntegerField(default=8000)
    custom_greeting = models.TextField(blank=True)
    starter_prompts = models.JSONField(default=list, blank=True, validators=[validate_starter_prompts])

    # Moderation and support.
    blocked_topics = models.JSONField(default=list, blank=True)
    # On by default (PII is filtered at the gateway); tenants created before keep their setting.
    pii_filter = models.BooleanField(default=True)
    # The region whose national phone numbers the PII filter recognises (ISO 3166 alpha-2; with
    # a "+" prefix any country's), and templates of what it keeps (order numbers, SKUs: "#" a
    # digit, "?" a letter or digit, "*" a run of them; chat.gateway.moderation.keep_pattern).
    pii_region = models.CharField(max_length=2, default="US", validators=[validate_phone_region])
    pii_keep_patterns = models.JSONField(default=list, blank=True, validators=[validate_keep_patterns])
    escalation_email = models.EmailField(blank=True)
    # The live handoff (inbox app): a conversation that starts waiting for a human goes to the
    # online agent whose turn it is (round robin), and to the next one when its assignee has not
    # replied within ``handoff_reply_minutes`` (empty: it stays theirs).
    handoff_auto_assign = models.BooleanField(default=True)
    handoff_reply_minutes = models.PositiveIntegerField(
        null=True, blank=True, default=5, validators=[MinValueValidator(1), MaxValueValidator(24 * 60)]
    )
    # Rules that hand a conversation to a human without being asked: a 👎 on an answer, and this
    # many answers in a row that failed, were refused or came from the fallback model (0: off).
    handoff_on_thumbs_down = models.BooleanField(default=False)
    handoff_after_failures = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(20)])
    # Moves when a knowledge document becomes ready or is deleted (knowledge.retrieval's indexes).
    knowledge_version = models.PositiveBigIntegerField(default=0, editable=False)
    # Tools the assistant may call: built-in ones and the tenant's HTTP tools, by name (tools app).
    allowed_tools = models.JSONField(default=list, blank=True)
    # Model calls that may ask for tools in one answer (then one more that may not).
    max_tool_rounds = models.PositiveSmallIntegerField(default=4)
    # The chat's ``tool`` frames carry the arguments the model gave (else only the tool's name).
    show_tool_arguments = models.BooleanField(default=False)
    # Each member's monthly token budget, unless their membership sets its own (None: no cap per
    # member; the tenant's budget still holds).
    member_monthly_token_budget = models.PositiveBigIntegerField(
        null=True, blank=True, validators=TOKEN_BUDGET
    )
    # Alerts (alerts app) are also posted here, signed with the secret (HMAC-SHA256), when set.
    alert_webhook_url = models.URLField(max_length=500, blank=True, validators=[validate_outbound_url])
    alert_webhook_secret = models.CharField(max_length=200, blank=True)
    # Members see each answer's model, tokens and cost on the chat page (owners and admins always).
    members_see_usage = models.BooleanField(default=False)
    # Hosts whose images an answer may show (https only); any other remote image is shown as a
    # link, and the chat page's Content-Security-Policy allows only these (infra.csp).
    allowed_image_hosts = models.JSONField(default=list, blank=True)
    # A conversation with no message for this long is ended (chat.tasks.close_idle_conversations).
    idle_close_minutes = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(IDLE_CLOSE_MAX_MINUTES)]
    )
    # Messages older than this many days are deleted (empty: kept).
    retention_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(RETENTION_MAX_DAYS)]
    )
    # Audit-log entries older than this many days are deleted (audit.tasks; empty: kept forever).
    audit_retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=AUDIT_RETENTION_DEFAULT_DAYS,
        validators=[MinValueValidator(AUDIT_RETENTION_MIN_DAYS), MaxValueValidator(RETENTION_MAX_DAYS)],
    )
    # A rolling summary is written every this many messages (chat.tasks.summarize_conversation).
    summarize_after_messages = models.PositiveIntegerField(default=20)
    # An answer nobody is connected to for this many seconds is cancelled (empty: the platform's
    # CHAT_ORPHAN_GRACE_S); until then a client that reconnects resumes it.
    orphan_grace_seconds = models.PositiveIntegerField(null=True, blank=True)

    # Caches.
    exact_cache_enabled = models.BooleanField(default=True)
    semantic_cache_enabled = models.BooleanField(default=False)
    semantic_cache_threshold = models.FloatField(default=0.95)
    cache_ttl_seconds = models.PositiveIntegerField(default=3600)
    # How alike in meaning a question and a curated answer's phrasing must be (knowledge.curated;
    # bench/matcher_bench.py shows what each threshold gives and costs in wrong answers: at 0.85
    # none was wrong with all-MiniLM-L6-v2, 0.75 finds three times as many at 0.96 precision).
    curated_answer_threshold = models.FloatField(default=0.85)

    # Overrides of the tier's limits (empty: the tier's value applies).
    messages_per_minute_override = models.PositiveIntegerField(null=True, blank=True)
    messages_per_hour_override = models.PositiveIntegerField(null=True, blank=True)
    max_concurrent_streams_override = models.PositiveIntegerField(null=True, blank=True)
    monthly_token_budget_override = models.PositiveBigIntegerField(
        null=True, blank=True, validators=TOKEN_BUDGET
    )
    max_sockets_per_user_override = models.PositiveIntegerField(null=True, blank=True)
    max_sockets_override = models.PositiveIntegerField(null=True, blank=True)
    # Messages a single user may send per minute (empty: the tenant's per-minute limit).
    user_messages_per_minute = models.PositiveIntegerField(null=True, blank=True)
    # USD one conversation may cost before it is refused (empty: no cap).
    conversation_cost_cap_usd = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)

    # Bumped on every save, so caches keyed by it never serve a stale configuration.
    config_version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            self.config_version = models.F("config_version") + 1  # type: ignore[assignment]
        super().save(*args, **kwargs)
        if not isinstance(self.config_version, int):
            self.refresh_from_db(fields=["config_version"])

    def clean(self) -> None:
        """The admin's check; the REST API's is the config serializer's (the same rules)."""
        errors: dict[str, Any] = dict(
            unpriced_model_errors({field: getattr(self, field) for field in MODEL_FIELDS})
        )
        hosts = self.allowed_image_hosts
        if not isinstance(hosts, list) or not all(
            isinstance(host, str) and re.match(HOSTNAME_PATTERN, host) for host in hosts
        ):
            errors["allowed_image_hosts"] = 'a list of host names, such as ["images.example.com"]'
        if errors:
            raise ValidationError(errors)

    @property
    def greeting(self) -> str:
        return self.custom_greeting or self.default_greeting

    @property
    def default_greeting(self) -> str:
        """The greeting of a tenant that set none (the settings page previews it)."""
        return f"Hi! I'm the {self.name} assistant. How can I help?"


class Role(models.TextChoices):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"
    # The support team: takes conversations handed to a human (the inbox), chats as a member.
    AGENT = "agent"


MANAGER_ROLES = frozenset({Role.OWNER, Role.ADMIN})


# The roles an identity provider's groups may give (SSO's claims, SCIM's groups): never owner
# (owners are made by owners, in the platform).
PROVIDER_ROLES = [(role.value, role.label) for role in Role if role != Role.OWNER]


def weightiest_role(roles: set[str], default: str) -> str:
    """Of the roles an identity provider's groups give one person (never owner), the weightiest;
    ``default`` when they give none."""
    weightiest_first = (Role.ADMIN, Role.AGENT, Role.VIEWER, Role.MEMBER)
    return next((role for role in weightiest_first if role in roles), default)


# Who works the inbox: agents, and owners and admins acting as agents.
AGENT_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.AGENT})
# Who reads a tenant's figures, configuration and records (every conversation, the console).
READER_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.VIEWER})


class Membership(TenantOwnedModel):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    # This member's monthly token budget in the tenant (None: the tenant's default for members).
    monthly_token_budget = models.PositiveBigIntegerField(null=True, blank=True, validators=TOKEN_BUDGET)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user")]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.tenant_id} ({self.role})"


class Experiment(TenantOwnedModel):
    """An A/B test of the assistant's configuration: users are split between its variants."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Variant(models.Model):
    """One arm of an experiment: the overrides it applies (empty: the tenant's own value) and
    its share of the users, in percent."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(max_length=100)
    is_control = models.BooleanField(default=False)
    weight = models.PositiveSmallIntegerField(help_text="percent of users; the weights sum to 100")
    system_prompt = models.TextField(blank=True)
    model = models.CharField(max_length=100, blank=True)
    temperature = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)]
    )
    max_tokens = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_TOKENS_PER_RESPONSE)]
    )

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["experiment", "name"], name="variant_unique_name")]

    def __str__(self) -> str:
        return self.name


class ExperimentAssignment(TenantOwnedModel):
    """A user's variant: drawn once by hash, then kept even when the weights change."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="assignments")
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["experiment", "user"], name="assignment_unique_user")]


class Invitation(TenantOwnedModel):
    """An invitation to join a tenant, sent by e-mail: the only way an existing account joins a
    tenant (``tenants.invitations``). Only the hash of its token is kept."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} → {self.tenant_id} ({self.role})"

    def status(self, now: Any) -> str:
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "pending"


class ApiKeyScope(models.TextChoices):
    """What an API key may do; a key never does more than the member who made it may."""

    CHAT = "chat", "chat as the key's member"
    CONVERSATIONS_READ = "conversations:read", "read conversations and their messages, export them"
    KNOWLEDGE_WRITE = "knowledge:write", "manage the knowledge base and curated answers"
    ANALYTICS_READ = "analytics:read", "read analytics, usage and routing figures"
    MANAGEMENT = "management", "every other management endpoint (settings, members, tools, ...)"
    SCIM = "scim", "provision members and groups by SCIM 2.0 (/scim/v2/<workspace>/), nothing else"


# The roles that may give a key each scope: those whose own rights cover what the scope opens.
SCOPE_ROLES: dict[str, frozenset[str]] = {
    ApiKeyScope.CHAT: frozenset(Role.values),
    ApiKeyScope.CONVERSATIONS_READ: frozenset(Role.values),
    ApiKeyScope.KNOWLEDGE_WRITE: MANAGER_ROLES,
    ApiKeyScope.ANALYTICS_READ: READER_ROLES,
    ApiKeyScope.MANAGEMENT: MANAGER_ROLES,
    ApiKeyScope.SCIM: MANAGER_ROLES,
}


class ApiKey(TenantOwnedModel):
    """A member's key for server-to-server calls: ``cpk_<prefix>_<secret>``, shown once, kept as
    the SHA-256 of the whole key (a key is 160 random bits: a slow hash adds nothing) and found by
    its visible ``prefix``. It acts as its member, with its ``scopes`` only, while the member is
    active in the tenant: a member deactivated, removed or made a viewer takes their keys' rights
    with them."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    # CIDR blocks the key may be used from (empty: anywhere).
    allowed_addresses = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class EndUser(TenantOwnedModel):
    """A person a tenant's server chats for with an API key of ``chat`` scope, named by the server
    (``external_id``: its own id for them). An account of their own, so that their conversations,
    limits and usage are theirs as a member's are; never a member (no sign-in, no console)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="end_user")
    external_id = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "external_id"], name="end_user_external_id_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.external_id} ({self.tenant_id})"
