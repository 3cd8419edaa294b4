"""Static files served by Daphne itself (``SERVE_STATIC``, when no proxy serves them)."""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, Http404, HttpRequest, HttpResponse


class StaticFiles(ASGIStaticFilesHandler):
    def serve(self, request: HttpRequest) -> HttpResponse | FileResponse:
        """A path that climbs out of the static root (``/static/%2e%2e/...``) is a plain 404:
        nothing there is served, and Django would answer the ``SuspiciousFileOperation`` as a 500
        (or a 400), telling a scanner it reached something."""
        try:
            return super().serve(request)
        except SuspiciousFileOperation:
            raise Http404("no such file") from None
