"""A tenant's people and groups as its identity provider sees them (SCIM 2.0, RFC 7643).

Every member of a tenant is a SCIM user of that tenant (``ScimUser``: made for the members the
team adds or invites the first time the directory is read, ``scim.selectors``); the platform's
own truth stays the membership (active, role) and the account. ``document`` keeps what the
provider sent (``name.middleName``, phone numbers, ...) to give it back as it came; the columns
beside it are the attributes the platform filters on, uniquely indexes, or uses.
"""

import uuid

from django.db import models
from django.db.models.functions import Lower

from tenants.models import PROVIDER_ROLES, Membership
from tenants.scoping import TenantOwnedModel


class ScimUser(TenantOwnedModel):
    membership = models.OneToOneField(Membership, on_delete=models.CASCADE, related_name="scim")
    scim_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user_name = models.CharField(max_length=150)
    external_id = models.CharField(max_length=200, blank=True)
    display_name = models.CharField(max_length=200, blank=True)
    given_name = models.CharField(max_length=150, blank=True)
    family_name = models.CharField(max_length=150, blank=True)
    email = models.CharField(max_length=254, blank=True)  # the primary (or first) address
    document = models.JSONField(default=dict)
    # The account was made by this tenant's provisioning: its names and e-mail follow the
    # provider's, it has this one membership, and the tenant's SSO sign-in may join it.
    provisioned = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [
            models.UniqueConstraint("tenant", Lower("user_name"), name="scim_user_name_per_tenant"),
        ]
        indexes = [models.Index("tenant", Lower("email"), name="scim_user_email")]

    def __str__(self) -> str:
        return f"{self.user_name} ({self.tenant_id})"


class ScimGroup(TenantOwnedModel):
    scim_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    display_name = models.CharField(max_length=200)
    external_id = models.CharField(max_length=200, blank=True)
    members = models.ManyToManyField(ScimUser, related_name="groups", blank=True)
    # Set by the tenant's owners and admins (never by the provider): what its members are.
    role = models.CharField(max_length=16, choices=PROVIDER_ROLES, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [
            models.UniqueConstraint("tenant", Lower("display_name"), name="scim_group_name_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.tenant_id})"
