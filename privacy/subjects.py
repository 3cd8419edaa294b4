"""Whose data a request is about: one end user of a tenant, a website visitor (``visitor``, by
its id) or a person a tenant's server chats for with an API key (``end_user``, by the id the
server named them with). Both are accounts of their own, only theirs: erasing them deletes the
account too. Members are the tenant's team: their data goes with their account."""

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tenants.end_users import external_id_valid
from tenants.models import EndUser
from widget.models import Visitor

_VISITOR_ID = re.compile(r"[0-9]{1,18}")


class SubjectKind(StrEnum):
    VISITOR = "visitor"
    END_USER = "end_user"


@dataclass(frozen=True, slots=True)
class Subject:
    kind: SubjectKind
    tenant_id: int
    user_id: int
    row: Any  # the Visitor or EndUser

    def profile(self) -> dict[str, Any]:
        """What the platform knows of the person besides their conversations."""
        if isinstance(self.row, Visitor):
            return {
                "visitor_id": self.row.pk,
                "site": self.row.site.name if self.row.site is not None else None,
                "external_id": self.row.external_id,
                "name": self.row.name,
                "email": self.row.email,
                "address": self.row.address,
                "created_at": self.row.created_at.isoformat(),
            }
        return {"end_user": self.row.external_id, "created_at": self.row.created_at.isoformat()}


def subject_find(*, tenant_id: int, kind: str, ident: str) -> Subject | None:
    """The tenant's subject, or None (unknown, or another tenant's: the same answer)."""
    if kind == SubjectKind.VISITOR:
        if not _VISITOR_ID.fullmatch(ident):  # ASCII digits a bigint holds ("³" is a digit too)
            return None
        visitor = Visitor.objects.for_tenant(tenant_id).select_related("site").filter(pk=int(ident)).first()
        return Subject(SubjectKind.VISITOR, tenant_id, visitor.user_id, visitor) if visitor else None
    if kind == SubjectKind.END_USER and external_id_valid(ident):
        end_user = EndUser.objects.for_tenant(tenant_id).filter(external_id=ident).first()
        return Subject(SubjectKind.END_USER, tenant_id, end_user.user_id, end_user) if end_user else None
    return None
