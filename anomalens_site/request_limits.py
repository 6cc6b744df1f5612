"""Reject request bodies over the configured size before any view reads them.

Django applies DATA_UPLOAD_MAX_MEMORY_SIZE only when request.body or
request.POST is read, but DRF's parsers read the raw stream, so a JSON body
of any size would reach the API. This middleware compares the declared
Content-Length with the limit first: MAX_UPLOAD_BYTES for multipart file
uploads, DATA_UPLOAD_MAX_MEMORY_SIZE for every other body.
"""

import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse

logger = logging.getLogger(__name__)


def body_limit(request):
    """Return the largest body, in bytes, accepted for ``request``."""
    if request.content_type == "multipart/form-data":
        return settings.MAX_UPLOAD_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class RequestSizeLimitMiddleware:
    """Return 413 when a request declares a body larger than its limit."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = body_limit(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            return self.too_large(request, length, limit)
        return self.get_response(request)

    @staticmethod
    def too_large(request, length, limit):
        logger.warning(
            "Rejected a %s-byte request body to %s: the limit is %s bytes",
            length,
            request.path,
            limit,
        )
        message = (
            f"Request body too large: {length} bytes, the limit is {limit} bytes "
            f"({limit / 1024 / 1024:g} MiB). Send less data per request, or raise "
            "ANOMALENS_MAX_REQUEST_MB (ANOMALENS_MAX_UPLOAD_MB for file uploads)."
        )
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message}, status=413)
        return HttpResponse(message, status=413, content_type="text/plain")
