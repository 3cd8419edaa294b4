"""The SCIM 2.0 endpoints of a tenant (RFC 7644), ``/scim/v2/<workspace>/``: thin views that
authenticate the tenant's SCIM key, hand a request's document to scim2-models to validate, and
its result to ``scim.services``. Every failure is a SCIM error document with its status (a
malformed body, an unknown filter attribute, another tenant's id: never a 500)."""

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import RequestDataTooBig, ValidationError
from django.db import IntegrityError
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from pydantic import ValidationError as PydanticError
from scim2_models import (
    Context,
    Error,
    ForbiddenException,
    InvalidSyntaxException,
    InvalidValueException,
    ListResponse,
    Meta,
    NotFoundException,
    NotImplementedException,
    PatchOp,
    PayloadTooLargeException,
    ResponseParameters,
    SCIMException,
    SearchRequest,
    UnauthorizedException,
    UniquenessException,
)

from infra.safe_json import UnsafeJSON, dumps, loads
from scim import selectors, services
from scim.filters import group_filter, user_filter
from scim.resources import MAX_RESULTS, PROVIDER, Group, UserResource, group_resource, user_resource
from tenants.api_keys import KeyInvalid, bearer_key, credential_of, key_authenticate
from tenants.models import ApiKeyScope, Membership

CONTENT_TYPE = "application/scim+json"
View = Callable[..., HttpResponse]


def _json(document: Any, status: int = 200, location: str | None = None) -> HttpResponse:
    response = HttpResponse(dumps(document), status=status, content_type=CONTENT_TYPE)
    if location:
        response["Location"] = location
    return response


def _error(error: SCIMException | Error) -> HttpResponse:
    document = error if isinstance(error, Error) else error.to_error()
    response = _json(document.model_dump(scim_ctx=Context.DEFAULT), status=int(document.status or 400))
    if document.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="scim"'
    return response


def _authenticate(request: HttpRequest, slug: str) -> None:
    """The tenant's SCIM key (``Authorization: Bearer cpk_…`` with the ``scim`` scope) acts as
    its member; the request's actor for the audit log, with "scim cpk_…" as its credential."""
    raw = bearer_key(request.headers.get("Authorization", ""))
    if raw is None:
        raise UnauthorizedException(detail="an API key with the scim scope is required")
    try:
        key, membership = key_authenticate(raw, request.META.get("REMOTE_ADDR"))
    except KeyInvalid as refused:
        raise UnauthorizedException(detail=str(refused)) from None
    if key.tenant.slug != slug:
        raise NotFoundException(detail="no such workspace")
    if ApiKeyScope.SCIM not in key.scopes:
        raise ForbiddenException(detail="this API key has no scim scope")
    request.user = membership.user
    request.membership = membership  # type: ignore[attr-defined]
    request.auth = dataclasses.replace(credential_of(key), kind="scim")  # type: ignore[attr-defined]


def endpoint(view: View) -> View:
    @csrf_exempt
    @functools.wraps(view)
    def wrapped(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            _authenticate(request, slug)
            selectors.ensure_records(_tenant_id(request))
            return view(request, *args, **kwargs)
        except SCIMException as refused:
            return _error(refused)
        except PydanticError as invalid:
            return _error(Error.from_validation_errors(invalid.errors())[0])
        except RequestDataTooBig:
            return _error(PayloadTooLargeException(detail="the request body is too large"))
        except IntegrityError:
            return _error(UniquenessException(detail="a value that must be unique is taken"))
        except ValidationError as invalid:
            return _error(InvalidValueException(detail=" ".join(invalid.messages)))

    return wrapped


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        document = loads(request.body or b"{}")
    except UnsafeJSON as refused:
        raise InvalidSyntaxException(detail=str(refused)) from None
    if not isinstance(document, dict):
        raise InvalidSyntaxException(detail="the body must be a JSON object")
    return document


def _base(request: HttpRequest) -> str:
    slug = request.resolver_match.kwargs["slug"] if request.resolver_match else ""
    return request.build_absolute_uri(f"/scim/v2/{slug}")


def _membership(request: HttpRequest) -> Membership:
    """The SCIM key's member (``_authenticate``)."""
    return request.membership  # type: ignore[attr-defined,no-any-return]


def _tenant_id(request: HttpRequest) -> int:
    return _membership(request).tenant_id


def _actor_role(request: HttpRequest) -> str:
    return _membership(request).role


def _integer(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidValueException(detail=f"{name} must be an integer") from None


def _query(request: HttpRequest, search: dict[str, Any] | None = None) -> SearchRequest:
    """The listing's parameters: the query string's (GET) or the body's (POST …/.search); out of
    range, they are brought into it by ``_listing`` (RFC 7644 §3.4.2.4)."""
    if search is None:
        values = request.GET
        search = {
            "filter": values.get("filter") or None,
            "startIndex": _integer(values.get("startIndex"), "startIndex", 1),
            "count": _integer(values.get("count"), "count", MAX_RESULTS),
            "attributes": _names(values.get("attributes")),
            "excludedAttributes": _names(values.get("excludedAttributes")),
        }
    return SearchRequest.model_validate(search, scim_ctx=Context.SEARCH_REQUEST)


def _names(value: str | None) -> list[str] | None:
    return value.split(",") if value else None


def _parameters(request: HttpRequest) -> ResponseParameters:
    values = request.GET
    return ResponseParameters.model_validate(
        {
            "attributes": _names(values.get("attributes")),
            "excludedAttributes": _names(values.get("excludedAttributes")),
        }
    )


@dataclass(frozen=True)
class Kind:
    """A resource type the endpoints serve, and where each of its operations goes."""

    model: Any  # its scim2-models class
    records: Callable[[int], QuerySet[Any]]  # a tenant's, with what presenting them reads
    present: Callable[[Any, str], Any]  # a record as a resource, under the base URL
    where: Callable[[str], Q]  # a filter as a query of its columns
    create: Callable[[Membership, Any], Any]  # (the key's membership, resource) -> record
    replace: Callable[[Any, Any, str], Any]  # (record, resource, the key member's role)
    delete: Callable[[Any, str], None]


USERS = Kind(
    model=UserResource,
    records=selectors.users,
    present=user_resource,
    where=user_filter,
    create=lambda membership, resource: services.user_create(tenant=membership.tenant, resource=resource),
    replace=lambda record, resource, role: services.user_replace(
        record=record, resource=resource, actor_role=role
    ),
    delete=lambda record, role: services.user_delete(record=record, actor_role=role),
)
GROUPS = Kind(
    model=Group,
    records=selectors.groups,
    present=group_resource,
    where=group_filter,
    create=lambda membership, resource: services.group_create(
        tenant=membership.tenant, resource=resource, actor_role=membership.role
    ),
    replace=lambda record, resource, role: services.group_replace(
        record=record, resource=resource, actor_role=role
    ),
    delete=lambda record, role: services.group_delete(record=record, actor_role=role),
)


def _listing(request: HttpRequest, kind: Kind, search: SearchRequest) -> HttpResponse:
    queryset = kind.records(_tenant_id(request))
    if search.filter:
        queryset = queryset.filter(kind.where(str(search.filter))).distinct()
    start = max(1, search.start_index or 1)
    count = min(MAX_RESULTS, max(0, search.count if search.count is not None else MAX_RESULTS))
    total = queryset.count()
    base = _base(request)
    page = [kind.present(record, base) for record in queryset[start - 1 : start - 1 + count]] if count else []
    listing = ListResponse[kind.model](  # type: ignore[name-defined]
        total_results=total, start_index=start, items_per_page=len(page), resources=page
    )
    return _json(
        listing.model_dump(
            scim_ctx=Context.SEARCH_RESPONSE,
            response_parameters=ResponseParameters(
                attributes=search.attributes, excluded_attributes=search.excluded_attributes
            ),
        )
    )


def _one(resource: Any, context: Context, request: HttpRequest, status: int = 200) -> HttpResponse:
    document = resource.model_dump(scim_ctx=context, response_parameters=_parameters(request))
    return _json(document, status=status, location=str(resource.meta.location))


def _found(request: HttpRequest, kind: Kind, scim_id: str) -> Any:
    return selectors.record(kind.records(_tenant_id(request)), scim_id)


@endpoint
def collection(request: HttpRequest, kind: Kind) -> HttpResponse:
    """``/Users``, ``/Groups``: list (``filter``, ``startIndex``, ``count``) and create."""
    if request.method == "GET":
        return _listing(request, kind, _query(request))
    if request.method == "POST":
        resource = kind.model.model_validate(_body(request), scim_ctx=Context.RESOURCE_CREATION_REQUEST)
        record = _found(request, kind, str(kind.create(_membership(request), resource).scim_id))
        return _one(kind.present(record, _base(request)), Context.RESOURCE_CREATION_RESPONSE, request, 201)
    raise NotImplementedException(detail=f"{request.method} is not served here")


@endpoint
def resource(request: HttpRequest, kind: Kind, scim_id: str) -> HttpResponse:
    """``/Users/<id>``, ``/Groups/<id>``: read, replace (PUT), patch (PATCH: applied to the
    resource as it is, then written as a replacement), delete."""
    base, record = _base(request), _found(request, kind, scim_id)
    if request.method == "GET":
        return _one(kind.present(record, base), Context.RESOURCE_QUERY_RESPONSE, request)
    if request.method == "DELETE":
        kind.delete(record, _actor_role(request))
        return HttpResponse(status=204)
    if request.method == "PUT":
        wanted = kind.model.model_validate(_body(request), scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
        wanted.replace(kind.present(record, base))
        context = Context.RESOURCE_REPLACEMENT_RESPONSE
    elif request.method == "PATCH":
        patch = PatchOp[kind.model].model_validate(_body(request), scim_ctx=Context.RESOURCE_PATCH_REQUEST)  # type: ignore[name-defined]
        wanted = kind.present(record, base)
        patch.patch(wanted)
        context = Context.RESOURCE_PATCH_RESPONSE
    else:
        raise NotImplementedException(detail=f"{request.method} is not served here")
    kind.replace(record, wanted, _actor_role(request))
    return _one(kind.present(_found(request, kind, scim_id), base), context, request)


@endpoint
def search(request: HttpRequest, kind: Kind) -> HttpResponse:
    if request.method != "POST":
        raise NotImplementedException(detail="searches are POSTed")
    return _listing(request, kind, _query(request, _body(request)))


def _discovery(request: HttpRequest, items: list[Any], kind: str, wanted: str | None) -> HttpResponse:
    """The service's schemas or resource types (RFC 7644 §4), each with its own location."""
    base = _base(request)
    located = [
        item.model_copy(update={"meta": Meta(resource_type=kind, location=f"{base}/{kind}s/{item.id}")})
        for item in items
    ]
    if wanted is not None:
        found = next((item for item in located if item.id == wanted), None)
        if found is None:
            raise NotFoundException(detail=f"no {kind} {wanted[:100]}")
        return _json(found.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    model: Any = type(located[0])
    listing = ListResponse[model](
        total_results=len(located), start_index=1, items_per_page=len(located), resources=located
    )
    return _json(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE))


class MethodNotAllowed(SCIMException):
    status = 405
    _default_detail = "the service's description is read-only"


def _read_only(request: HttpRequest) -> None:
    if request.method != "GET":
        raise MethodNotAllowed


@endpoint
def service_provider_config(request: HttpRequest) -> HttpResponse:
    _read_only(request)
    return _json(PROVIDER.config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))  # type: ignore[union-attr]


@endpoint
def resource_types(request: HttpRequest, name: str | None = None) -> HttpResponse:
    _read_only(request)
    return _discovery(request, list(PROVIDER.resource_types), "ResourceType", name)


@endpoint
def schemas(request: HttpRequest, urn: str | None = None) -> HttpResponse:
    _read_only(request)
    return _discovery(request, list(PROVIDER.schemas), "Schema", urn)


@endpoint
def unknown(request: HttpRequest, rest: str = "") -> HttpResponse:
    if rest in ("Bulk", "Me", ".search"):
        raise NotImplementedException(detail=f"/{rest} is not supported")
    raise NotFoundException(detail="no such endpoint")
