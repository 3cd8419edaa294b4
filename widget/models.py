"""A tenant's widget sites: where its assistant may be embedded, and how it looks there."""

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator, URLValidator
from django.db import models
from django.utils import timezone

from tenants.models import validate_starter_prompts
from tenants.scoping import TenantOwnedModel
from widget.domains import validate_allowed_domains

_RATE = [MinValueValidator(1), MaxValueValidator(10_000)]


def new_site_key() -> str:
    """The site's public key: in the snippet every visitor's browser sees, so it grants nothing
    by itself (the allowed domains and, later, the visitor tokens do)."""
    return f"site_{secrets.token_urlsafe(18)}"


def new_identity_secret() -> str:
    """The key the tenant's server signs its verified visitors' tokens with (HS256): shared with
    that server only, never with a browser."""
    return secrets.token_urlsafe(32)


def validate_https_url(url: str) -> None:
    """HTTPS only (a function, not a ``URLValidator``: DRF drops those from a URL field's
    validators in favour of its own, which allows http)."""
    URLValidator(schemes=["https"])(url)


class Site(TenantOwnedModel):
    class Position(models.TextChoices):
        RIGHT = "right"
        LEFT = "left"

    class Theme(models.TextChoices):
        AUTO = "auto", "the visitor's preference"
        LIGHT = "light"
        DARK = "dark"

    class Language(models.TextChoices):
        EN = "en", "English"
        FR = "fr", "Français"

    key = models.CharField(max_length=40, unique=True, default=new_site_key, editable=False)
    name = models.CharField(max_length=100, help_text="for the tenant's team: which website this is")
    enabled = models.BooleanField(default=True)
    allowed_domains = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_allowed_domains],
        help_text="where the widget may be embedded: shop.example.com, *.example.com, localhost:8080",
    )
    title = models.CharField(
        max_length=80, blank=True, help_text="the panel's header (blank: the tenant's name)"
    )
    color = models.CharField(
        max_length=7,
        default="#2563eb",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "a colour as #rrggbb")],
    )
    # Loaded by the visitors' browsers, never by the platform: HTTPS is all it must be.
    logo_url = models.URLField(max_length=500, blank=True, validators=[validate_https_url])
    launcher_text = models.CharField(max_length=40, blank=True, help_text="beside the launcher's icon")
    greeting = models.CharField(max_length=500, blank=True, help_text="blank: the tenant's greeting")
    starter_prompts = models.JSONField(default=list, blank=True, validators=[validate_starter_prompts])
    position = models.CharField(max_length=5, choices=Position.choices, default=Position.RIGHT)
    theme = models.CharField(max_length=5, choices=Theme.choices, default=Theme.AUTO)
    language = models.CharField(max_length=5, choices=Language.choices, default=Language.EN)
    # Visitors: verified ones come with a token the tenant's server signed with this secret.
    identity_secret = models.CharField(max_length=64, default=new_identity_secret, editable=False)
    identity_secret_rotated_at = models.DateTimeField(default=timezone.now, editable=False)
    require_verification = models.BooleanField(
        default=False, help_text="only visitors the tenant's server vouches for may chat"
    )
    # What one visitor, one address (every visitor behind it) and the whole site may send; the
    # tenant's tier and budgets apply above these (billing.admission).
    visitor_messages_per_minute = models.PositiveIntegerField(default=6, validators=_RATE)
    visitor_conversations_per_hour = models.PositiveIntegerField(default=6, validators=_RATE)
    address_messages_per_minute = models.PositiveIntegerField(default=20, validators=_RATE)
    address_conversations_per_hour = models.PositiveIntegerField(default=20, validators=_RATE)
    daily_message_cap = models.PositiveIntegerField(
        default=2000, validators=[MinValueValidator(1), MaxValueValidator(10_000_000)]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="site_name_per_tenant")]

    def __str__(self) -> str:
        return self.name


class Visitor(TenantOwnedModel):
    """Someone chatting through a site's widget. Not a member: a user row of its own (so the
    conversations, limits and sockets keyed by user work unchanged) that has no membership, no
    usable password and so no way into the API, the console or the chat page. Anonymous
    (``external_id`` blank: known by the token the platform gave their browser) or verified
    (``external_id``: the ``sub`` the tenant's server signed, the same visitor on any device)."""

    # A deleted site's visitors stay (their conversations are the tenant's) but can chat no more.
    site = models.ForeignKey(Site, on_delete=models.SET_NULL, null=True, related_name="visitors")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="widget_visitor"
    )
    external_id = models.CharField(max_length=200, blank=True)
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True, help_text="where it first came from")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["site", "external_id"],
                condition=~models.Q(external_id=""),
                name="visitor_external_id_per_site",
            )
        ]

    @property
    def verified(self) -> bool:
        return bool(self.external_id)

    def __str__(self) -> str:
        return self.name or self.email or self.external_id or f"visitor {self.pk}"
