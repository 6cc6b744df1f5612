"""Serializers for user activity events, single and in bulk."""

import datetime

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from activities.models import ActionType, UserActivity
from anomalens_site.filters import MAX_DATABASE_ID
from anomalens_site.serializers import StrictFieldsMixin

# Earliest event time accepted; nothing in a shop's logs predates it.
EARLIEST_TIMESTAMP = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
# How far ahead of the server's clock an event may be, for clock skew.
MAX_CLOCK_SKEW = datetime.timedelta(days=1)


class UserActivitySerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """One activity event.

    ``customer_id`` is checked as a whole number here and against the
    database by the view, once for a whole bulk request, so validating
    10,000 events does not cost 10,000 queries. A timestamp without an offset
    is read as UTC; a missing one defaults to the time the request arrived.
    """

    customer_id = serializers.IntegerField(
        min_value=1,
        max_value=MAX_DATABASE_ID,
        allow_null=True,
        required=False,
        help_text="Id of the customer; null or absent for an anonymous visitor.",
    )
    timestamp = serializers.DateTimeField(
        required=False,
        default_timezone=datetime.UTC,
        help_text="When the event happened, ISO 8601; default: now.",
    )
    action_type = serializers.ChoiceField(choices=ActionType.choices)
    details = serializers.JSONField(
        required=False,
        help_text="The action's own fields, as a JSON object "
        '(for example {"product_id": 2} or {"query": "shoes"}).',
    )
    ip_address = serializers.IPAddressField(
        allow_null=True, required=False, protocol="both"
    )

    class Meta:
        model = UserActivity
        fields = [
            "id",
            "customer_id",
            "session_id",
            "timestamp",
            "action_type",
            "details",
            "ip_address",
            "user_agent",
            "source",
        ]
        read_only_fields = ["source"]

    def validate_timestamp(self, value):
        # Far-future or ancient times would not describe a real event, and
        # past year 2262 they overflow the nanosecond times of pandas.
        latest = datetime.datetime.now(datetime.UTC) + MAX_CLOCK_SKEW
        if not EARLIEST_TIMESTAMP <= value <= latest:
            raise ValidationError(
                f"Invalid timestamp {value.isoformat()}: use a time from "
                f"{EARLIEST_TIMESTAMP:%Y-%m-%d} to one day after the current time."
            )
        return value

    def validate_details(self, value):
        if not isinstance(value, dict):
            raise ValidationError(
                f"Expected a JSON object, got {type(value).__name__} {value!r:.80}."
            )
        path = _find_nul(value)
        if path is not None:
            raise ValidationError(
                f"Invalid text at details{path}: it contains a NUL character "
                "(\\u0000), which the database cannot store. Remove it."
            )
        return value


def _find_nul(value, path=""):
    """Return the path of the first key or string in ``value`` holding a NUL, or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        here = f"{path}[{key!r}]"
        if isinstance(key, str) and "\x00" in key:
            return here
        found = _find_nul(item, here)
        if found is not None:
            return found
    return None


class SessionHistorySerializer(UserActivitySerializer):
    """An event shown as part of another event's session."""
