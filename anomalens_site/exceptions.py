"""API exception handling: client errors become 4xx JSON responses, never a 500."""

import logging

import redis
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, InterfaceError, OperationalError
from django.db.models import ProtectedError, RestrictedError
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with stored data."
    default_code = "conflict"


class ServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service the API needs is unavailable. Try again later."
    default_code = "service_unavailable"


# Seconds a client is asked to wait after a 503.
RETRY_AFTER_SECONDS = 30


def api_exception_handler(exc, context):
    """Turn validation, integrity and protected-delete errors into 4xx responses.

    A delete blocked by rows that still refer to it (an order item protecting
    its product) and a unique constraint lost to a concurrent request both
    become a 409 that names the conflict. The database transaction has
    already been rolled back by then, so nothing stored changed.
    """
    view = context.get("view")
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "message_dict"):
            exc = ValidationError(exc.message_dict)
        else:
            exc = ValidationError({"detail": exc.messages})
    elif isinstance(exc, ProtectedError | RestrictedError):
        exc = Conflict(_describe_protected(exc))
    elif isinstance(exc, IntegrityError):
        logger.warning("Integrity error in %s: %s", type(view).__name__, exc)
        exc = Conflict(
            "The request conflicts with stored data (a duplicate or a missing "
            "reference, possibly written by a concurrent request). Reload and retry."
        )
    elif isinstance(exc, OperationalError | InterfaceError | redis.ConnectionError):
        # The database or Redis is down or unreachable: the client's request
        # was fine, so it gets a 503 with a retry time instead of an HTML 500.
        service = "Redis" if isinstance(exc, redis.ConnectionError) else "database"
        logger.error(
            "The %s is unavailable in %s: %s", service, type(view).__name__, exc
        )
        exc = ServiceUnavailable(
            f"The {service} is unavailable, so nothing was read or stored. Try "
            f"again in {RETRY_AFTER_SECONDS} s; if it persists, ask the operator "
            f"to check the {service} server."
        )
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ServiceUnavailable):
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if response.status_code >= status.HTTP_500_INTERNAL_SERVER_ERROR:
        logger.error("API error %s in %s", response.status_code, type(view).__name__)
    return response


def _describe_protected(exc):
    if isinstance(exc, RestrictedError):
        objects = list(exc.restricted_objects)
    else:
        objects = list(exc.protected_objects)
    kinds = sorted({str(obj._meta.verbose_name_plural) for obj in objects})
    return (
        f"Cannot delete: {len(objects)} {' and '.join(kinds) or 'rows'} still refer "
        "to it. Delete or change those first."
    )


def bad_request(field, message):
    """Return a 400 response naming the field, for views that validate by hand."""
    return Response({field: [message]}, status=status.HTTP_400_BAD_REQUEST)
