"""Query filters of the findings and runs lists."""

import django_filters

from store.models import EntityType

from .models import Finding, Run, Severity


class FindingFilter(django_filters.FilterSet):
    detector = django_filters.CharFilter()
    entity_type = django_filters.ChoiceFilter(choices=EntityType.choices)
    entity_id = django_filters.NumberFilter()
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    review_status = django_filters.MultipleChoiceFilter(
        choices=Finding.ReviewStatus.choices
    )
    run = django_filters.NumberFilter(field_name="run_id")
    min_score = django_filters.NumberFilter(field_name="score", lookup_expr="gte")
    start = django_filters.IsoDateTimeFilter(
        field_name="entity_time", lookup_expr="gte"
    )
    end = django_filters.IsoDateTimeFilter(field_name="entity_time", lookup_expr="lt")

    class Meta:
        model = Finding
        fields = []


class RunFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Run.Kind.choices)
    status = django_filters.MultipleChoiceFilter(choices=Run.Status.choices)
    detector = django_filters.CharFilter()
    entity_type = django_filters.ChoiceFilter(choices=EntityType.choices)

    class Meta:
        model = Run
        fields = []
