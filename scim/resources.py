"""What the SCIM endpoints speak: the standard User (with the enterprise extension) and Group of
RFC 7643 as scim2-models describes them, the service's description (RFC 7644 §4), and a tenant's
records turned into resources.

scim2-models validates what a provider sends for each kind of request (required, mutability,
types), applies PATCH operations and shapes every response (``attributes``,
``excludedAttributes``, write-only and read-only attributes); this module only says where each
attribute of ours lives.
"""

from typing import Annotated, Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    EnterpriseUser,
    ETag,
    Filter,
    GroupMember,
    GroupMembership,
    Meta,
    Mutability,
    Patch,
    ResourceType,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    User,
)
from scim2_models import (
    Group as BaseGroup,
)

from scim.models import ScimGroup, ScimUser

# One page's most resources (RFC 7644 §3.4.2.4: "count" above it is lowered to it).
MAX_RESULTS = 200

UserResource = User[EnterpriseUser]


class Member(GroupMember):
    # RFC 7643 §2.4 makes "display" the service's to give; it gives none (the value names them).
    display: Annotated[str | None, Mutability.read_only] = None


class Group(BaseGroup):
    members: list[Member] | None = None  # type: ignore[assignment]


CONFIG = ServiceProviderConfig(
    patch=Patch(supported=True),
    bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_RESULTS),
    change_password=ChangePassword(supported=True),
    sort=Sort(supported=False),
    etag=ETag(supported=False),
    authentication_schemes=[
        AuthenticationScheme(
            type=AuthenticationScheme.Type.oauthbearertoken,
            name="API key",
            description="An API key of the tenant with the scim scope: Authorization: Bearer cpk_…",
            primary=True,
        )
    ],
)

PROVIDER = ScimProvider(
    models=[User, EnterpriseUser, Group],
    resource_types=[ResourceType.from_resource(UserResource), ResourceType.from_resource(Group)],
    config=CONFIG,
)

# Kept in the user's own columns or elsewhere, never in its document.
# "active" is kept as the provider's word that it manages the membership's state (shown from
# the membership itself); a PATCH that removes it leaves the membership as it was.
_NOT_IN_DOCUMENT = {"id", "meta", "schemas", "groups", "password"}


def document_of(resource: Any) -> dict[str, Any]:
    """What of a validated resource is kept as it came (JSON, the SCIM names)."""
    dumped = resource.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {key: value for key, value in dumped.items() if key not in _NOT_IN_DOCUMENT}


def primary_email(resource: Any) -> str:
    emails = [email for email in resource.emails or [] if email.value]
    chosen = next((email for email in emails if email.primary), emails[0] if emails else None)
    return str(chosen.value) if chosen else ""


def _meta(record: ScimUser | ScimGroup, kind: str, location: str) -> Meta:
    return Meta(
        resource_type=kind,
        created=record.created_at,
        last_modified=record.updated_at,
        location=location,
    )


def user_resource(record: ScimUser, base: str) -> Any:
    """``record`` (its membership and groups prefetched) as a SCIM User."""
    resource = UserResource.model_validate(
        {"schemas": [str(User.__schema__)], **record.document} | {"userName": record.user_name}
    )
    resource.id = str(record.scim_id)
    resource.active = record.membership.active if "active" in record.document else None
    resource.groups = [
        GroupMembership.model_validate(
            {
                "value": str(group.scim_id),
                "$ref": f"{base}/Groups/{group.scim_id}",
                "display": group.display_name,
            }
            | {"type": "direct"}
        )
        for group in record.groups.all()
    ] or None
    resource.meta = _meta(record, "User", f"{base}/Users/{record.scim_id}")
    if resource[EnterpriseUser] is not None:
        resource.schemas = [str(User.__schema__), str(EnterpriseUser.__schema__)]
    return resource


def group_resource(record: ScimGroup, base: str) -> Group:
    """``record`` (its members prefetched) as a SCIM Group."""
    return Group(
        id=str(record.scim_id),
        external_id=record.external_id or None,
        display_name=record.display_name,
        members=[
            Member.model_validate(
                {"value": str(member.scim_id), "$ref": f"{base}/Users/{member.scim_id}", "type": "User"}
            )
            for member in record.members.all()
        ]
        or None,
        meta=_meta(record, "Group", f"{base}/Groups/{record.scim_id}"),
    )
