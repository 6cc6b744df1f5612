"""Filter pieces shared by every API list: strict parameter checks and typed filters."""

import datetime

from django import forms
from django_filters import rest_framework as filters
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter, SearchFilter

# Pagination and rendering parameters every list accepts besides its filters.
COMMON_QUERY_PARAMS = frozenset({"limit", "offset", "skip", "format"})
# Largest value a signed 64-bit primary key can hold.
MAX_DATABASE_ID = 2**63 - 1
ISO_8601_HINT = "Use ISO 8601, for example 2025-01-31T12:00:00Z."


def describe_value(value, max_length=80):
    """Return ``repr(value)`` cut to ``max_length`` characters for an error message."""
    text = repr(value)
    if len(text) > max_length:
        text = text[: max_length - 3] + "..."
    return text


class IdFilter(filters.NumberFilter):
    """Filter on a primary or foreign key given as a whole number from 1 to 2^63-1.

    ``NumberFilter`` accepts decimals and unbounded numbers, which SQLite
    rejects with an overflow error instead of matching nothing.
    """

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_DATABASE_ID)
        super().__init__(*args, **kwargs)


class IPAddressFilter(filters.CharFilter):
    """Filter on an exact IPv4 or IPv6 address, rejecting anything else."""

    field_class = forms.GenericIPAddressField


class StrictDjangoFilterBackend(DjangoFilterBackend):
    """Apply a view's filterset and return 400 on unknown or invalid parameters.

    A misspelled filter (``ip_adress=...``) would otherwise be ignored and the
    response would silently contain the whole table. ``search`` and
    ``ordering`` count as known only when the view has a search or ordering
    backend, and ``ordering`` values are checked against the fields the view
    allows, because DRF's ``OrderingFilter`` drops unknown ones silently.
    """

    def filter_queryset(self, request, queryset, view):
        allowed = self.get_allowed_params(request, queryset, view)
        unknown = sorted(set(request.query_params.keys()) - allowed)
        if unknown:
            allowed_text = ", ".join(sorted(allowed))
            raise ValidationError(
                {
                    name: [
                        f"Unknown query parameter {name!r}. Allowed: {allowed_text}."
                    ]
                    for name in unknown
                }
            )
        self.check_ordering(request, queryset, view)

        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            raise ValidationError(self.describe_errors(request, filterset))
        self.convert_datetimes_to_utc(request, filterset)
        return filterset.qs

    def convert_datetimes_to_utc(self, request, filterset):
        """Convert every datetime filter value to UTC before it reaches the database.

        Python accepts UTC offsets up to 23:59, PostgreSQL only up to 15:59 and
        fails the query with a DataError. A value that leaves the datetime
        range once converted (year 1 or 9999 with a large offset) is a 400.
        """
        cleaned = filterset.form.cleaned_data
        for name, value in cleaned.items():
            if not isinstance(value, datetime.datetime) or value.tzinfo is None:
                continue
            try:
                cleaned[name] = value.astimezone(datetime.UTC)
            except OverflowError:
                raw = describe_value(request.query_params.get(name))
                raise ValidationError(
                    {
                        name: [
                            f"Invalid date and time {raw}: out of range in UTC. "
                            f"{ISO_8601_HINT}"
                        ]
                    }
                ) from None

    def get_allowed_params(self, request, queryset, view):
        """Return the query parameter names this view understands."""
        allowed = set(COMMON_QUERY_PARAMS)
        allowed.update(getattr(view, "extra_query_params", ()))
        backends = getattr(view, "filter_backends", ())
        if getattr(view, "search_fields", None) and _uses(backends, SearchFilter):
            allowed.add(SearchFilter.search_param)
        if _uses(backends, OrderingFilter):
            allowed.add(OrderingFilter.ordering_param)
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            allowed.update(filterset_class.base_filters.keys())
            for name, filter_ in filterset_class.base_filters.items():
                # Range-style filters read ``name_min``/``name_max`` and similar.
                widget = getattr(filter_.field_class, "widget", None)
                suffixes = getattr(widget, "suffixes", None)
                if suffixes:
                    allowed.update(f"{name}_{suffix}" for suffix in suffixes if suffix)
        return allowed

    def check_ordering(self, request, queryset, view):
        """Raise a 400 when ``ordering`` names a field the view cannot sort by."""
        raw = request.query_params.get(OrderingFilter.ordering_param)
        backends = getattr(view, "filter_backends", ())
        if raw is None or not _uses(backends, OrderingFilter):
            return
        valid = {
            name
            for name, _label in OrderingFilter().get_valid_fields(
                queryset, view, {"request": request}
            )
        }
        terms = [term.strip() for term in raw.split(",") if term.strip()]
        invalid = [term for term in terms if term.lstrip("-") not in valid]
        if invalid or not terms:
            raise ValidationError(
                {
                    OrderingFilter.ordering_param: [
                        f"Invalid ordering {raw!r}. Use a comma-separated list of "
                        f"{', '.join(sorted(valid))}, each optionally prefixed "
                        "with '-' for descending order."
                    ]
                }
            )

    def describe_errors(self, request, filterset):
        """Add the rejected value and the allowed values to each filter error."""
        errors = {}
        for name, messages in filterset.errors.items():
            field = filterset.form.fields.get(name)
            hints = []
            raw = request.query_params.get(name)
            if raw is not None and not any(raw in str(text) for text in messages):
                hints.append(f"Got {describe_value(raw)}.")
            choices = getattr(field, "choices", None)
            if choices:
                values = [str(value) for value, _label in choices if value != ""]
                hints.append(f"Allowed: {', '.join(values)}.")
            if isinstance(field, forms.DateTimeField):
                hints.append(ISO_8601_HINT)
            suffix = " ".join(hints)
            errors[name] = [f"{message} {suffix}".strip() for message in messages]
        return errors


def _uses(backends, backend_class):
    return any(
        isinstance(backend, type) and issubclass(backend, backend_class)
        for backend in backends
    )
