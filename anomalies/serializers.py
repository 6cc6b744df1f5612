"""Serializers of findings, runs, trained models, detector settings and run requests."""

import math
from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from activities.models import UserActivity
from anomalens_site.serializers import StrictFieldsMixin
from store.models import EntityType, Order

from .detectors import REGISTRY
from .models import DetectorSettings, Finding, Run, TrainedModel
from .services import PARAMETER_FIELDS


class FindingSerializer(serializers.ModelSerializer):
    run_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Finding
        fields = [
            "id",
            "run_id",
            "detector",
            "entity_type",
            "entity_id",
            "entity_time",
            "raw_score",
            "score",
            "severity",
            "explanation",
            "review_status",
            "reviewed_by",
            "reviewed_at",
            "created_at",
        ]
        read_only_fields = [f for f in fields if f != "review_status"]


class FindingDetailSerializer(FindingSerializer):
    """A finding with the scored row itself, so a reviewer sees the context."""

    context = serializers.SerializerMethodField()

    class Meta(FindingSerializer.Meta):
        fields = [*FindingSerializer.Meta.fields, "context"]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_context(self, finding):
        if finding.entity_type == EntityType.ACTIVITY:
            row = (
                UserActivity.objects.filter(pk=finding.entity_id)
                .values(
                    "id",
                    "timestamp",
                    "action_type",
                    "customer_id",
                    "session_id",
                    "ip_address",
                    "user_agent",
                    "details",
                    "source",
                )
                .first()
            )
        else:
            row = (
                Order.objects.filter(pk=finding.entity_id)
                .values("id", "created_at", "customer_id", "total_amount", "status")
                .first()
            )
        if row is None:
            return None
        return {key: _plain(value) for key, value in row.items()}


def _plain(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


class ReviewSerializer(serializers.ModelSerializer):
    class Meta:
        model = Finding
        fields = ["review_status"]


class RunSerializer(serializers.ModelSerializer):
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
    trained_model_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Run
        fields = [
            "id",
            "kind",
            "detector",
            "entity_type",
            "status",
            "parameters",
            "progress",
            "rows_processed",
            "anomalies_found",
            "error",
            "metrics",
            "task_id",
            "trained_model_id",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "duration_seconds",
        ]
        read_only_fields = fields


class TrainedModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrainedModel
        fields = [
            "id",
            "detector",
            "entity_type",
            "parameters",
            "feature_names",
            "training_rows",
            "window_start",
            "window_end",
            "sklearn_version",
            "is_active",
            "created_at",
            "run",
        ]
        read_only_fields = fields


class DetectorSettingsSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = DetectorSettings
        fields = [*PARAMETER_FIELDS, "updated_at"]
        read_only_fields = ["updated_at"]

    def to_internal_value(self, data):
        # JSON has no NaN, but Python's parser accepts it and validators let it by.
        errors = {
            name: [f"Invalid {name} {value!r}: use a finite number."]
            for name, value in getattr(data, "items", dict().items)()
            if isinstance(value, float) and not math.isfinite(value)
        }
        if errors:
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class RunRequestSerializer(serializers.Serializer):
    """Body of the train and detect requests; parameters left out use the settings."""

    entity_type = serializers.ChoiceField(
        choices=[*EntityType.values, "all"], required=False, default="all"
    )
    algorithms = serializers.ListField(
        child=serializers.ChoiceField(choices=list(REGISTRY)),
        required=False,
        allow_empty=False,
    )
    background = serializers.BooleanField(required=False)

    def to_internal_value(self, data):
        if not hasattr(data, "keys"):
            raise serializers.ValidationError(
                {"non_field_errors": ["Invalid body: send a JSON object."]}
            )
        allowed = {*self.fields, *PARAMETER_FIELDS}
        unknown = sorted(set(data.keys()) - allowed)
        if unknown:
            raise serializers.ValidationError(
                {
                    name: [
                        f"Unknown field {name!r}: use one of {', '.join(sorted(allowed))}."
                    ]
                    for name in unknown
                }
            )
        validated = super().to_internal_value(data)
        validated["parameters"] = {
            name: data[name] for name in PARAMETER_FIELDS if name in data
        }
        return validated

    def entity_types(self):
        entity = self.validated_data["entity_type"]
        return list(EntityType.values) if entity == "all" else [entity]


class RunStartedSerializer(serializers.Serializer):
    """Response to a train or detect request."""

    message = serializers.CharField()
    run_ids = serializers.ListField(child=serializers.IntegerField())
    anomalies_saved_by_algorithm = serializers.DictField(
        child=serializers.IntegerField(), required=False
    )
    runs = RunSerializer(many=True, required=False)
    errors = serializers.DictField(child=serializers.CharField(), required=False)
