"""``/api/v1/data-subjects/{kind}/{id}/``: a tenant's owners and admins answer a person's request
about their data (GDPR articles 15, 17 and 20): ``export/`` (GET) is everything the platform holds
about them as one JSON document; ``erase/`` (POST) deletes it from every store and answers the
erasure's record. ``kind``: ``visitor`` (a website visitor, by id) or ``end_user`` (a person a
server chats for with an API key, by the id it named them with). Another tenant's or an unknown
subject: 404."""

from typing import Any

from django.http import JsonResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from redis.exceptions import RedisError
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from privacy.services import subject_erase, subject_export
from privacy.subjects import Subject, SubjectKind, subject_find
from tenants.api.base import TenantEndpoint
from tenants.models import MANAGER_ROLES

_PATH = [
    OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=[k.value for k in SubjectKind]),
    OpenApiParameter("ident", str, OpenApiParameter.PATH, description="a visitor's id, or an end user's id"),
]


class ErasureSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="the erasure's own id, as the audit log records it")
    kind = serializers.ChoiceField(choices=[k.value for k in SubjectKind])
    counts = serializers.DictField(
        child=serializers.IntegerField(), help_text="rows and keys each store lost"
    )


class HotStateUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "the platform's Redis cannot be reached: nothing was erased; try again"
    default_code = "service_unavailable"


class _SubjectEndpoint(TenantEndpoint, APIView):
    readers = writers = MANAGER_ROLES
    subject = "people's data"

    def found(self, kind: str, ident: str) -> Subject:
        found = subject_find(tenant_id=self.caller.tenant_id, kind=kind, ident=ident[:200])
        if found is None:
            raise NotFound("no such person in this workspace")
        return found


class SubjectExportView(_SubjectEndpoint):
    @extend_schema(parameters=_PATH, responses={(200, "application/json"): dict[str, Any]})
    def get(self, request: Request, kind: str, ident: str) -> JsonResponse:
        response = JsonResponse(
            subject_export(self.found(kind, ident)), json_dumps_params={"ensure_ascii": False}
        )
        response["Content-Disposition"] = f'attachment; filename="{kind}-data.json"'
        return response


class SubjectEraseView(_SubjectEndpoint):
    @extend_schema(parameters=_PATH, request=None, responses={200: ErasureSerializer})
    def post(self, request: Request, kind: str, ident: str) -> Response:
        try:
            erasure = subject_erase(self.found(kind, ident))
        except (RedisError, OSError) as exc:
            raise HotStateUnavailable from exc
        data = {"id": erasure.id, "kind": erasure.kind, "counts": erasure.counts}
        return Response(ErasureSerializer(data).data, status=status.HTTP_200_OK)
