"""REST API for user activity events: ingest one or many, list, read, session context."""

import logging
import time

from django.db import connection, transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import filters, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from activities.filters import UserActivityFilter
from activities.models import UserActivity
from activities.serializers import UserActivitySerializer
from anomalens_site.filters import StrictDjangoFilterBackend
from store.models import Customer, Source

logger = logging.getLogger(__name__)

# Most events one POST may carry; larger loads go in several requests.
MAX_BULK_EVENTS = 10_000
# Most invalid events a 400 response lists, so that a wholly wrong upload
# does not produce a response larger than the request.
MAX_REPORTED_ERRORS = 100
# Rows per INSERT statement in a bulk ingest.
INSERT_BATCH_SIZE = 1_000


class UserActivityViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Ingest, list and read activity events.

    Events are an append-only log: the API adds and reads them, and data
    batches (simulations, imports) are removed as a unit in the admin.
    """

    queryset = UserActivity.objects.all()
    serializer_class = UserActivitySerializer
    filter_backends = [StrictDjangoFilterBackend, filters.OrderingFilter]
    filterset_class = UserActivityFilter
    ordering_fields = ["timestamp", "id"]
    lookup_value_regex = r"[0-9]+"

    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="ActivityIngest",
            serializers=[UserActivitySerializer, UserActivitySerializer(many=True)],
            resource_type_field_name=None,
            many=False,
        ),
        responses={
            201: PolymorphicProxySerializer(
                component_name="ActivityIngestResult",
                serializers=[
                    UserActivitySerializer,
                    UserActivitySerializer(many=True),
                ],
                resource_type_field_name=None,
                many=False,
            )
        },
        description=(
            "Store one event (a JSON object) or up to 10,000 events (a JSON list) "
            "in one transaction. If any event is invalid, none is stored and the "
            "response lists the invalid events by their 0-based index."
        ),
    )
    def create(self, request, *args, **kwargs):
        started = time.perf_counter()
        many = isinstance(request.data, list)
        events = request.data if many else [request.data]
        if many:
            self.check_bulk_size(events)

        validated, errors = self.validate_events(events)
        with transaction.atomic():
            if not errors:
                errors = self.check_customers(validated)
            if errors:
                return self.invalid_response(errors, len(events), many)
            created = self.insert_events(validated)

        logger.info(
            "Stored %d activity events in %.3f s",
            len(created),
            time.perf_counter() - started,
        )
        serializer = self.get_serializer(created if many else created[0], many=many)
        return Response(serializer.data, status=status.HTTP_201_CREATED)

    def check_bulk_size(self, events):
        if not events:
            raise ValidationError(
                {"non_field_errors": ["Empty list: send at least one event."]}
            )
        if len(events) > MAX_BULK_EVENTS:
            raise ValidationError(
                {
                    "non_field_errors": [
                        f"Too many events in one request: {len(events)}. Send at most "
                        f"{MAX_BULK_EVENTS} per request."
                    ]
                }
            )

    def validate_events(self, events):
        """Validate each event's fields without touching the database."""
        child = self.get_serializer()
        validated = []
        errors = {}
        for index, event in enumerate(events):
            try:
                validated.append(child.run_validation(event))
            except ValidationError as exc:
                errors[index] = exc.detail
        return validated, errors

    def check_customers(self, validated):
        """Return errors, by index, for events naming a customer that does not exist."""
        wanted = {
            event["customer_id"]
            for event in validated
            if event.get("customer_id") is not None
        }
        existing = set()
        ids = sorted(wanted)
        # SQLite caps the number of parameters in one statement.
        chunk = connection.features.max_query_params or len(ids) or 1
        for start in range(0, len(ids), chunk):
            existing.update(
                Customer.objects.filter(pk__in=ids[start : start + chunk]).values_list(
                    "pk", flat=True
                )
            )
        missing = wanted - existing
        if not missing:
            return {}
        return {
            index: {
                "customer_id": [
                    f"Customer {event['customer_id']} not found. Use the id of an "
                    "existing customer, or null for an anonymous visitor."
                ]
            }
            for index, event in enumerate(validated)
            if event.get("customer_id") in missing
        }

    def insert_events(self, validated):
        now = timezone.now()
        rows = [
            UserActivity(
                customer_id=event.get("customer_id"),
                session_id=event.get("session_id", ""),
                timestamp=event.get("timestamp") or now,
                action_type=event["action_type"],
                details=event.get("details", {}),
                ip_address=event.get("ip_address"),
                user_agent=event.get("user_agent", ""),
                source=Source.API,
            )
            for event in validated
        ]
        return UserActivity.objects.bulk_create(rows, batch_size=INSERT_BATCH_SIZE)

    def invalid_response(self, errors, count, many):
        if not many:
            raise ValidationError(errors[0])
        reported = dict(sorted(errors.items())[:MAX_REPORTED_ERRORS])
        first = min(errors)
        return Response(
            {
                "detail": (
                    f"{len(errors)} of {count} events are invalid (the first at index "
                    f"{first}), so none was stored. Fix the events listed under "
                    "'errors' by their 0-based index and send the request again."
                ),
                "invalid_count": len(errors),
                "errors": {str(index): detail for index, detail in reported.items()},
            },
            status=status.HTTP_400_BAD_REQUEST,
        )

    @extend_schema(
        responses=UserActivitySerializer(many=True),
        description=(
            "The other events of this event's session, oldest first. An event "
            "without a session id has no session history."
        ),
    )
    @action(detail=True, methods=["get"], url_path="context/session_history")
    def session_history(self, request, pk=None):
        event = get_object_or_404(UserActivity.objects.only("id", "session_id"), pk=pk)
        self.check_object_permissions(request, event)
        history = UserActivity.objects.none()
        if event.session_id:
            history = (
                UserActivity.objects.filter(session_id=event.session_id)
                .exclude(pk=event.pk)
                .order_by("timestamp", "id")
            )
        history = self.filter_queryset(history)
        page = self.paginate_queryset(history)
        serializer = self.get_serializer(page, many=True)
        return self.get_paginated_response(serializer.data)
