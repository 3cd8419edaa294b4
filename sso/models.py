"""A tenant's OpenID Connect provider (one per tenant) and the people it signed in: each
identity is the provider's ``(issuer, subject)``, the only thing an SSO sign-in is matched on
after its first (never an e-mail address alone: ``sso.services``)."""

from django.conf import settings
from django.db import models

from infra.outbound import validate_outbound_url
from tenants.models import PROVIDER_ROLES, Role
from tenants.scoping import TenantOwnedModel


class Connection(TenantOwnedModel):
    issuer = models.URLField(
        max_length=300,
        validators=[validate_outbound_url],
        help_text="the issuer: {issuer}/.well-known/openid-configuration is its discovery document",
    )
    client_id = models.CharField(max_length=200)
    client_secret = models.CharField(max_length=500)  # never shown again once saved
    allowed_domains = models.JSONField(
        default=list,
        blank=True,
        help_text="e-mail domains that may sign in (empty: any the provider verified)",
    )
    role_claim = models.CharField(max_length=100, default="groups", help_text="the claim that names groups")
    role_map = models.JSONField(
        default=dict, blank=True, help_text="{group: role}; the weightiest matching role wins"
    )
    default_role = models.CharField(max_length=16, choices=PROVIDER_ROLES, default=Role.MEMBER)
    enabled = models.BooleanField(default=True)
    sso_only = models.BooleanField(
        default=False, help_text="members other than owners cannot sign in with a password"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant"], name="sso_one_connection_per_tenant")]

    def __str__(self) -> str:
        return f"{self.issuer} ({self.tenant_id})"


class Identity(TenantOwnedModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255)
    email = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField()

    class Meta(TenantOwnedModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "issuer", "subject"], name="sso_identity_unique"),
        ]
        indexes = [models.Index(fields=["user"], name="sso_identity_user")]

    def __str__(self) -> str:
        return f"{self.subject}@{self.issuer}"
