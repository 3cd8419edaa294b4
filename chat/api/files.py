"""``/api/v1/attachments/``: files for chat messages (``chat.files``). Any member uploads their
own (multipart ``file``), then names its id in a ``message`` frame's ``attachments``. A file is
read and downloaded by its conversation's user and by the tenant's owners and admins; another
tenant's or another user's file id is a 404."""

from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse, HttpResponseRedirect
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, Throttled, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.api.conversations import ConversationsEndpoint
from chat.files import FileQuotaExceeded, FileRefused, attachments_storage, downloadable, file_store
from chat.models import ChatFile


class QuotaExceeded(APIException):
    """413: the tier's quota named by ``limit`` has no room for this file."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "quota_exceeded"

    def __init__(self, detail: str, limit: str) -> None:
        super().__init__(detail)
        self.limit = limit


class UploadsThrottled(Throttled):
    """429 with ``retry_after``: the member's uploads a minute."""

    default_code = "rate_limited"

    def __init__(self, wait: int, detail: str, limit: str) -> None:
        super().__init__(wait, detail)
        self.limit = limit


class ChatFileSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChatFile
        fields = ["id", "filename", "content_type", "size_bytes", "conversation", "created_at"]
        read_only_fields = fields


class ChatFileUploadSerializer(serializers.Serializer):
    file = serializers.FileField()


class _FilesEndpoint(ConversationsEndpoint, APIView):
    subject = "attachments"

    def downloadable(self) -> QuerySet[ChatFile]:
        caller = self.caller
        return downloadable(tenant_id=caller.tenant_id, user_id=caller.user_id, manager=caller.manages)


class ChatFileUploadView(_FilesEndpoint):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request=ChatFileUploadSerializer,
        responses={
            201: ChatFileSerializer,
            413: OpenApiResponse(description="a quota of unsent files: detail, code, limit"),
            429: OpenApiResponse(description="uploads a minute: detail, code, limit, retry_after"),
        },
    )
    def post(self, request: Request) -> Response:
        """A document (text, Markdown, HTML, CSV, PDF: its text goes to the model) or an image,
        up to the tier's size, its content what its type says; send its id in a message's
        ``attachments`` within 24 hours. Past the tier's uploads a minute: 429 with
        ``retry_after``; past its quota of unsent files (count or bytes, per member or in the
        workspace): 413; both name the ``limit``."""
        body = ChatFileUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        try:
            stored = file_store(
                tenant=self.caller.tenant,
                user_id=self.caller.user_id,
                filename=upload.name or "",
                declared_type=upload.content_type or "",
                data=upload.read(),
            )
        except FileQuotaExceeded as exceeded:
            if exceeded.retry_after is not None:
                raise UploadsThrottled(exceeded.retry_after, str(exceeded), exceeded.limit) from None
            raise QuotaExceeded(str(exceeded), exceeded.limit) from None
        except FileRefused as refused:
            raise ValidationError({"file": [str(refused)]}) from None
        return Response(ChatFileSerializer(stored).data, status=status.HTTP_201_CREATED)


class ChatFileDetailView(_FilesEndpoint):
    @extend_schema(responses=ChatFileSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(ChatFileSerializer(self.owned_or_404(self.downloadable(), pk)).data)


class ChatFileDownloadView(_FilesEndpoint):
    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiResponse(description="the file"), 302: None}
    )
    def get(self, request: Request, pk: int) -> Any:
        """The file itself: from the file system, or a redirect to a short-lived signed URL of
        the S3 bucket."""
        found = self.owned_or_404(self.downloadable(), pk)
        storage = attachments_storage()
        if hasattr(storage, "bucket_name"):  # S3: the bucket serves it, signed for a few minutes
            return HttpResponseRedirect(storage.url(found.key))
        response = FileResponse(
            storage.open(found.key, "rb"),
            as_attachment=True,
            filename=found.filename,
            content_type=found.content_type,
        )
        response["X-Content-Type-Options"] = "nosniff"
        return response


class ConversationFilesView(_FilesEndpoint):
    @extend_schema(responses=ChatFileSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        files = self.downloadable().filter(conversation=self.visible_or_404(pk))
        return Response(ChatFileSerializer(files.order_by("id"), many=True).data)
