"""API exception handling: every client error is a 400-class JSON answer, never a 500."""

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


def api_exception_handler(exc, context):
    """Turn DRF and Django validation errors into a 400 with the field's message."""
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "message_dict"):
            exc = ValidationError(exc.message_dict)
        else:
            exc = ValidationError({"detail": exc.messages})
    response = exception_handler(exc, context)
    if response is None:
        return None
    if response.status_code >= status.HTTP_500_INTERNAL_SERVER_ERROR:
        logger.error("API error %s on %s", response.status_code, context.get("view"))
    return response


def bad_request(field, message):
    """Return a 400 response naming the field, for views that validate by hand."""
    return Response({field: [message]}, status=status.HTTP_400_BAD_REQUEST)
