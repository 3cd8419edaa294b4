"""The people a tenant's server chats for with an API key (``EndUser``): found or made by the id
the server names, and their rights, checked with every message as a member's are."""

import functools
import re
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from infra.hour_counts import hour_count_exceeded
from infra.keys import tenant_prefix
from tenants.models import ApiKey, EndUser, Membership, Role, Tenant

# Printable ASCII without spaces: an id from the tenant's own systems, shown as it is.
_EXTERNAL_ID = re.compile(r"[!-~]{1,200}")


class EndUserInvalid(ValueError):
    """The named id is not one (empty, too long, or with characters outside printable ASCII)."""


class TooManyEndUsers(Exception):
    """The key named ``API_KEY_NEW_END_USERS_PER_HOUR`` new end users this clock hour."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"this API key named too many new end users this hour; try again in {retry_after} s")
        self.retry_after = retry_after


def external_id_valid(external_id: str) -> bool:
    return bool(_EXTERNAL_ID.fullmatch(external_id))


def end_user_for(*, tenant_id: int, external_id: str, key_id: int) -> EndUser:
    """The tenant's end user with that id, made at first (two sockets naming a new one at once
    make one), at most ``API_KEY_NEW_END_USERS_PER_HOUR`` new ones a key (``TooManyEndUsers``):
    a leaked key cannot fill the accounts table."""
    if not external_id_valid(external_id):
        raise EndUserInvalid("end_user must be 1 to 200 printable ASCII characters, no spaces")
    found = EndUser.objects.for_tenant(tenant_id).filter(external_id=external_id).first()
    if found is not None:
        return found
    key = f"{tenant_prefix(tenant_id)}:key:{key_id}:new-end-users"
    wait = hour_count_exceeded(key, settings.API_KEY_NEW_END_USERS_PER_HOUR)
    if wait is not None:
        raise TooManyEndUsers(retry_after=wait)
    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(username=f"enduser-{uuid.uuid4().hex}", password=None)
            return EndUser.objects.create(tenant_id=tenant_id, user=user, external_id=external_id)
    except IntegrityError:
        return EndUser.objects.for_tenant(tenant_id).get(external_id=external_id)


@functools.cache
def end_user_access_sql(key_id: int) -> str:
    """An end user's rights through key ``key_id`` (``chat_access_sql``'s columns and parameters:
    tenant id, user id): one row while the end user exists, the key is not revoked, its member is
    active in the active tenant; the role of a member, the tenant's budget for members."""
    return (
        f"SELECT '{Role.MEMBER.value}' AS role, t.member_monthly_token_budget AS budget, "  # noqa: S608 (table names from the models)
        "t.knowledge_version "
        f"FROM {EndUser._meta.db_table} e "
        f"JOIN {Tenant._meta.db_table} t ON t.id = e.tenant_id "
        f"JOIN {ApiKey._meta.db_table} k ON k.tenant_id = e.tenant_id AND k.id = {int(key_id)} "
        f"JOIN {Membership._meta.db_table} m ON m.tenant_id = k.tenant_id AND m.user_id = k.user_id "
        f"JOIN {get_user_model()._meta.db_table} u ON u.id = k.user_id "
        "WHERE e.tenant_id = %s AND e.user_id = %s AND t.active AND k.revoked_at IS NULL "
        "AND m.active AND u.is_active"
    )
