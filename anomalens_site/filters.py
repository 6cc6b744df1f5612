"""Filter backend that rejects unknown query parameters instead of ignoring them."""

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError

# Query parameters every list accepts besides its filters.
COMMON_QUERY_PARAMS = frozenset(
    {"limit", "offset", "skip", "ordering", "format", "search"}
)


class StrictDjangoFilterBackend(DjangoFilterBackend):
    """Apply a view's filterset and return 400 on unknown or invalid parameters.

    A misspelled filter (``ip_adress=...``) would otherwise be ignored and the
    response would silently contain the whole table.
    """

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        allowed = set(COMMON_QUERY_PARAMS)
        allowed.update(getattr(view, "extra_query_params", ()))
        if filterset_class is not None:
            allowed.update(filterset_class.base_filters.keys())
            for name, filter_ in filterset_class.base_filters.items():
                # Range-style filters read ``name_min``/``name_max`` and similar.
                widget = getattr(filter_.field_class, "widget", None)
                suffixes = getattr(widget, "suffixes", None)
                if suffixes:
                    allowed.update(f"{name}_{suffix}" for suffix in suffixes if suffix)
        unknown = sorted(set(request.query_params.keys()) - allowed)
        if unknown:
            raise ValidationError(
                {
                    name: [
                        f"Unknown query parameter {name!r}. "
                        f"Allowed: {', '.join(sorted(allowed))}."
                    ]
                    for name in unknown
                }
            )
        return super().filter_queryset(request, queryset, view)
