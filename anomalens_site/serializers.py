"""Serializer pieces shared by every API: strict fields and self-explaining errors."""

from collections.abc import Mapping

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from anomalens_site.filters import describe_value

# Fields an HTML form of the browsable API adds to every POST.
IGNORED_FORM_FIELDS = frozenset({"csrfmiddlewaretoken"})


class StrictFieldsMixin:
    """Reject unknown body fields and add the rejected value to every field error.

    DRF ignores fields it does not know, so a misspelled optional field
    (``timestmp``) would silently fall back to its default. Read-only fields
    are accepted and ignored, so that a client can send back what it read.
    Field errors get ``Got <value>.`` (unless the message already shows it)
    and, for choice fields, the list of allowed values.
    """

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields) - IGNORED_FORM_FIELDS)
            if unknown:
                allowed = ", ".join(
                    name for name, field in self.fields.items() if not field.read_only
                )
                raise ValidationError(
                    {
                        name: [f"Unknown field {name!r}. Allowed: {allowed}."]
                        for name in unknown
                    }
                )
        try:
            return super().to_internal_value(data)
        except ValidationError as exc:
            if isinstance(exc.detail, Mapping) and isinstance(data, Mapping):
                raise ValidationError(self.explain_errors(exc.detail, data)) from None
            raise

    def explain_errors(self, detail, data):
        """Return ``detail`` with the rejected value and allowed values per field."""
        explained = {}
        for name, messages in detail.items():
            field = self.fields.get(name)
            if name not in data or not isinstance(messages, list):
                explained[name] = messages
                continue
            hints = []
            value_text = describe_value(data[name])
            shown = str(data[name])
            if not any(shown in str(message) for message in messages):
                hints.append(f"Got {value_text}.")
            if isinstance(field, serializers.ChoiceField):
                hints.append(f"Allowed: {', '.join(map(str, field.choices))}.")
            suffix = " ".join(hints)
            explained[name] = [
                f"{message} {suffix}".strip() if isinstance(message, str) else message
                for message in messages
            ]
        return explained
