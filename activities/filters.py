"""Filters for the activity API list."""

from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError

from activities.models import ActionType, UserActivity
from anomalens_site.filters import IdFilter, IPAddressFilter
from store.models import Source


class UserActivityFilter(filters.FilterSet):
    """Filter events by who, what, where and when.

    ``start_time`` and ``end_time`` are ISO 8601 and both inclusive; a value
    without an offset is read in the site's time zone (UTC by default).
    """

    customer_id = IdFilter(field_name="customer_id")
    anonymous = filters.BooleanFilter(
        field_name="customer", lookup_expr="isnull", label="Only anonymous visitors"
    )
    action_type = filters.ChoiceFilter(choices=ActionType.choices)
    ip_address = IPAddressFilter()
    session_id = filters.CharFilter()
    start_time = filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte")
    end_time = filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lte")
    source = filters.ChoiceFilter(choices=Source.choices)

    class Meta:
        model = UserActivity
        fields = [
            "customer_id",
            "anonymous",
            "action_type",
            "ip_address",
            "session_id",
            "start_time",
            "end_time",
            "source",
        ]

    @property
    def qs(self):
        start = self.form.cleaned_data.get("start_time")
        end = self.form.cleaned_data.get("end_time")
        if start and end and start > end:
            raise ValidationError(
                {
                    "end_time": [
                        f"end_time {end.isoformat()} is before start_time "
                        f"{start.isoformat()}. Use an end_time on or after start_time."
                    ]
                }
            )
        return super().qs
