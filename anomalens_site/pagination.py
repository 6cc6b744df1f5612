"""Limit/offset pagination that also accepts ``skip``, the old name of offset."""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

# Largest page any list returns, so that no request can read a whole table.
MAX_PAGE_LIMIT = 10_000
# Offsets beyond a signed 64-bit integer cannot reach a database row.
MAX_OFFSET = 2**63 - 1


class LimitOffsetSkipPagination(LimitOffsetPagination):
    """Paginate with ``limit`` and ``offset`` (or ``skip``), rejecting bad values with a 400.

    DRF's own class silently falls back to the default for an invalid limit;
    this one names the parameter, the value and the allowed range instead.
    """

    default_limit = 100
    max_limit = MAX_PAGE_LIMIT
    skip_query_param = "skip"

    def get_limit(self, request):
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return self.default_limit
        return _parse_int(self.limit_query_param, raw, 1, MAX_PAGE_LIMIT)

    def get_offset(self, request):
        for name in (self.offset_query_param, self.skip_query_param):
            raw = request.query_params.get(name)
            if raw is not None:
                return _parse_int(name, raw, 0, MAX_OFFSET)
        return 0

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["schema"]["maximum"] = MAX_PAGE_LIMIT
            if parameter["name"] == self.offset_query_param:
                parameter["schema"]["minimum"] = 0
                parameter["schema"]["maximum"] = MAX_OFFSET
        parameters.append(
            {
                "name": self.skip_query_param,
                "required": False,
                "in": "query",
                "description": "Old name of offset, kept for earlier API clients.",
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
            }
        )
        return parameters


def _parse_int(name, raw, minimum, maximum):
    """Return ``raw`` as an int from ``minimum`` to ``maximum``, or raise a 400 naming it."""
    message = f"Invalid {name} {raw!r}: use a whole number from {minimum} to {maximum}."
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationError({name: [message]}) from None
    if not minimum <= value <= maximum:
        raise ValidationError({name: [message]})
    return value
