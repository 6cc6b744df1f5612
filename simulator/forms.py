"""The simulation form of the staff page."""

from django import forms
from faker.config import AVAILABLE_LOCALES

from simulator.config import (
    ALL_KINDS,
    MAX_ANOMALY_RATE,
    SimulationConfig,
    SimulationConfigError,
)

DEFAULTS = SimulationConfig.__dataclass_fields__


class SimulationForm(forms.Form):
    customers = forms.IntegerField(min_value=1, initial=DEFAULTS["customers"].default)
    products = forms.IntegerField(min_value=1, initial=DEFAULTS["products"].default)
    orders = forms.IntegerField(min_value=0, initial=DEFAULTS["orders"].default)
    activities = forms.IntegerField(min_value=0, initial=DEFAULTS["activities"].default)
    order_anomaly_rate = forms.FloatField(
        min_value=0,
        max_value=MAX_ANOMALY_RATE,
        initial=DEFAULTS["order_anomaly_rate"].default,
        help_text="Approximate fraction of orders that are anomalous.",
    )
    activity_anomaly_rate = forms.FloatField(
        min_value=0,
        max_value=MAX_ANOMALY_RATE,
        initial=DEFAULTS["activity_anomaly_rate"].default,
        help_text="Approximate fraction of activity events that are anomalous.",
    )
    kinds = forms.MultipleChoiceField(
        choices=[(kind, kind.replace("_", " ")) for kind in ALL_KINDS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Kinds to inject, with equal weights; none selected means all.",
    )
    days = forms.IntegerField(min_value=1, initial=DEFAULTS["days"].default)
    locale = forms.ChoiceField(
        choices=[(locale, locale) for locale in sorted(AVAILABLE_LOCALES)],
        initial=DEFAULTS["locale"].default,
    )
    seed = forms.IntegerField(
        min_value=0, required=False, help_text="Empty: a random seed."
    )

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.config = SimulationConfig(
                **{key: value for key, value in cleaned.items() if key != "kinds"},
                kinds=cleaned.get("kinds") or None,
            )
        except SimulationConfigError as exc:
            for field, message in exc.errors.items():
                self.add_error(field if field in self.fields else None, message)
        return cleaned
