"""Request and response shapes of the simulator API."""

from django.urls import reverse
from rest_framework import serializers

from simulator.config import SimulationConfig, SimulationConfigError
from simulator.models import SimulationRun

CONFIG_FIELDS = {
    "customers": serializers.IntegerField,
    "products": serializers.IntegerField,
    "orders": serializers.IntegerField,
    "activities": serializers.IntegerField,
    "order_anomaly_rate": serializers.FloatField,
    "activity_anomaly_rate": serializers.FloatField,
    "days": serializers.IntegerField,
    "categories": serializers.IntegerField,
    "locale": serializers.CharField,
    "seed": serializers.IntegerField,
    "end": serializers.DateTimeField,
}
OLD_NAMES = {
    "num_customers": "customers",
    "num_products": "products",
    "num_orders": "orders",
    "num_activities": "activities",
}


class GenerateSerializer(serializers.Serializer):
    """Settings of a simulation, flat or wrapped in ``config``.

    The ``num_*`` names of the first API version are accepted beside the
    current ones. ``kinds`` is a list of kind names or an object of weights.
    """

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ["Invalid body: send a JSON object of settings."]}
            )
        if "config" in data:
            if not isinstance(data["config"], dict):
                raise serializers.ValidationError(
                    {"config": ["Invalid config: use a JSON object of settings."]}
                )
            data = data["config"]
        values, errors = {}, {}
        for key, raw in data.items():
            name = OLD_NAMES.get(key, key)
            if name == "kinds":
                values[name] = raw
                continue
            field_class = CONFIG_FIELDS.get(name)
            if field_class is None:
                errors[key] = [
                    f"Unknown setting {key!r}: use one of "
                    f"{', '.join([*CONFIG_FIELDS, 'kinds'])}."
                ]
                continue
            if raw is None and name == "seed":
                continue
            try:
                values[name] = field_class().run_validation(raw)
            except serializers.ValidationError as exc:
                errors[key] = [f"Invalid {key} {raw!r}: {' '.join(exc.detail)}"]
        if errors:
            raise serializers.ValidationError(errors)
        try:
            return SimulationConfig(**values)
        except SimulationConfigError as exc:
            raise serializers.ValidationError(
                {field: [message] for field, message in exc.errors.items()}
            ) from None


class SimulationRunSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = SimulationRun
        fields = [
            "id",
            "url",
            "status",
            "progress",
            "config",
            "result",
            "error",
            "batch",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_url(self, run) -> str:
        path = reverse("simulator-api:run-detail", args=[run.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path
