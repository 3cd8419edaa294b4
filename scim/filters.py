"""A SCIM ``filter`` (RFC 7644 §3.4.2.2) as a query on a tenant's records.

scim2-filter-parser parses the expression and turns it into a Django ``Q``; the map below names
the column each filterable attribute is kept in. An attribute it does not name is refused
(``invalidFilter``), never left out: the parser's own transpiler drops an unknown attribute from
an ``and``, which would widen the answer.
"""

from typing import Any

from django.db.models import Q
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser, SCIMParserError
from scim2_filter_parser.transpilers.django_q_object import Transpiler
from scim2_models import InvalidFilterException

_USER = "urn:ietf:params:scim:schemas:core:2.0:user"
_GROUP = "urn:ietf:params:scim:schemas:core:2.0:group"

# (attribute, sub-attribute, schema URN) -> column; both with and without the core URN.
_COMMON: dict[tuple[str, str | None], str] = {
    ("id", None): "scim_id",
    ("externalid", None): "external_id",
    ("meta", "created"): "created_at",
    ("meta", "lastmodified"): "updated_at",
}
USER_ATTRIBUTES = _COMMON | {
    ("username", None): "user_name",
    ("displayname", None): "display_name",
    ("name", "givenname"): "given_name",
    ("name", "familyname"): "family_name",
    ("emails", None): "email",
    ("emails", "value"): "email",
    ("active", None): "membership.active",
}
GROUP_ATTRIBUTES = _COMMON | {
    ("displayname", None): "display_name",
    ("members", None): "members.scim_id",
    ("members", "value"): "members.scim_id",
}

MAX_FILTER_CHARS = 1000


class _Strict(Transpiler):
    def __init__(self, attributes: dict[tuple[str, str | None], str], urn: str) -> None:
        super().__init__(
            {(name, sub, uri): column for (name, sub), column in attributes.items() for uri in (None, urn)}
        )

    def visit_AttrPath(self, node: Any) -> str:
        column = super().visit_AttrPath(node)
        if column is None:
            raise InvalidFilterException(detail=f"cannot filter on {node.attr_name}")
        return column


def filter_query(expression: str, attributes: dict[tuple[str, str | None], str], urn: str) -> Q:
    if len(expression) > MAX_FILTER_CHARS:
        raise InvalidFilterException(detail=f"a filter has at most {MAX_FILTER_CHARS} characters")
    try:
        tree = SCIMParser().parse(SCIMLexer().tokenize(expression))
        query = _Strict(attributes, urn).transpile(tree)
    except (SCIMParserError, ValueError, NotImplementedError, IndexError, TypeError) as exc:
        raise InvalidFilterException(detail=f"invalid filter: {exc}") from exc
    if not isinstance(query, Q):
        raise InvalidFilterException(detail="invalid filter")
    return query


def user_filter(expression: str) -> Q:
    return filter_query(expression, USER_ATTRIBUTES, _USER)


def group_filter(expression: str) -> Q:
    return filter_query(expression, GROUP_ATTRIBUTES, _GROUP)
