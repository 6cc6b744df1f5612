"""Forms of the HTML pages: finding filters, reviews, run requests and settings."""

import datetime
import zoneinfo

from django import forms
from django.utils.translation import gettext_lazy as _

from store.models import EntityType

from .models import DetectorSettings, Finding, Run, Severity

DETECTOR_CHOICES = [
    ("statistical_zscore", _("Z-score (statistical_zscore)")),
    ("isolation_forest", _("Isolation Forest (isolation_forest)")),
    ("dbscan", _("DBSCAN (dbscan)")),
]

# Run request kind that queues training runs and then detection runs.
TRAIN_THEN_DETECT = "train_detect"

SORT_CHOICES = [
    ("-score", _("Score, highest first")),
    ("score", _("Score, lowest first")),
    ("-time", _("Time, newest first")),
    ("time", _("Time, oldest first")),
]


def detector_choices(extra=()):
    """Return the known detectors plus any other names found in stored rows."""
    known = dict(DETECTOR_CHOICES)
    for name in extra:
        known.setdefault(name, name)
    return list(known.items())


class FindingFilterForm(forms.Form):
    """Filters and sort order of the findings list, read from the query string."""

    detector = forms.ChoiceField(label=_("Detector"), required=False)
    entity_type = forms.ChoiceField(
        label=_("Entity"),
        required=False,
        choices=[("", _("All")), *EntityType.choices],
    )
    severity = forms.ChoiceField(
        label=_("Severity"), required=False, choices=[("", _("All")), *Severity.choices]
    )
    review_status = forms.ChoiceField(
        label=_("Review"),
        required=False,
        choices=[("", _("All")), *Finding.ReviewStatus.choices],
    )
    since = forms.DateTimeField(
        label=_("From"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Time of the flagged row, in your time zone."),
    )
    until = forms.DateTimeField(
        label=_("To"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    ip = forms.GenericIPAddressField(label=_("IP address"), required=False)
    run = forms.IntegerField(label=_("Run"), required=False, min_value=1)
    sort = forms.ChoiceField(label=_("Sort"), required=False, choices=SORT_CHOICES)

    def __init__(self, *args, detectors=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["detector"].choices = [("", _("All")), *detector_choices(detectors)]

    def clean_since(self):
        return in_utc_range(self.cleaned_data["since"])

    def clean_until(self):
        return in_utc_range(self.cleaned_data["until"])

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error(
                "until",
                _("“To” (%(until)s) is before “From” (%(since)s): swap them.")
                % {"until": until, "since": since},
            )
        return cleaned


class ReviewForm(forms.Form):
    """An analyst's verdict on one finding."""

    review_status = forms.ChoiceField(choices=Finding.ReviewStatus.choices)


class RunRequestForm(forms.Form):
    """Training or detection for chosen entities and detectors, with parameters.

    The parameter fields start at the stored detector settings; an empty
    field means "use the stored setting".
    """

    kind = forms.ChoiceField(
        label=_("What to run"),
        choices=[
            (TRAIN_THEN_DETECT, _("Training, then detection")),
            *Run.Kind.choices,
        ],
        widget=forms.RadioSelect,
        initial=TRAIN_THEN_DETECT,
    )
    entity_types = forms.MultipleChoiceField(
        label=_("Entities"),
        choices=EntityType.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=EntityType.values,
    )
    detectors = forms.MultipleChoiceField(
        label=_("Detectors"),
        choices=DETECTOR_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        initial=[name for name, _label in DETECTOR_CHOICES],
    )
    limit = forms.IntegerField(
        label=_("Rows"),
        required=False,
        min_value=10,
        max_value=50_000_000,
        help_text=_("Most recent rows to read."),
    )
    z_threshold = forms.FloatField(
        label=_("Z-score threshold"), required=False, min_value=0.5, max_value=50.0
    )
    zscore_robust = forms.BooleanField(
        label=_("Robust Z-score (median and MAD)"), required=False
    )
    iforest_n_estimators = forms.IntegerField(
        label=_("Isolation Forest trees"), required=False, min_value=10, max_value=2000
    )
    iforest_contamination = forms.FloatField(
        label=_("Isolation Forest contamination"),
        required=False,
        min_value=0.0001,
        max_value=0.5,
        help_text=_("Share of training rows scored as anomalous."),
    )
    dbscan_eps = forms.FloatField(
        label=_("DBSCAN eps"),
        required=False,
        min_value=1e-6,
        max_value=1e6,
        help_text=_("Empty: chosen from the k-distance curve."),
    )
    dbscan_min_samples = forms.IntegerField(
        label=_("DBSCAN min samples"), required=False, min_value=2, max_value=1000
    )

    PARAMETER_FIELDS = (
        "limit",
        "z_threshold",
        "zscore_robust",
        "iforest_n_estimators",
        "iforest_contamination",
        "dbscan_eps",
        "dbscan_min_samples",
    )

    @classmethod
    def initial_from_settings(cls, detector_settings):
        """Return initial values for the parameter fields from the stored settings."""
        return {name: getattr(detector_settings, name) for name in cls.PARAMETER_FIELDS}

    def parameters(self):
        """Return the parameters that were filled in, by name."""
        return {
            name: self.cleaned_data[name]
            for name in self.PARAMETER_FIELDS
            if self.cleaned_data.get(name) is not None
        }


class DetectorSettingsForm(forms.ModelForm):
    class Meta:
        model = DetectorSettings
        fields = [
            "limit",
            "max_train_rows",
            "z_threshold",
            "zscore_robust",
            "iforest_n_estimators",
            "iforest_contamination",
            "dbscan_eps",
            "dbscan_min_samples",
            "dbscan_max_train_rows",
        ]
        labels = {
            "limit": _("Rows"),
            "max_train_rows": _("Training sample (rows)"),
            "z_threshold": _("Z-score threshold"),
            "zscore_robust": _("Robust Z-score (median and MAD)"),
            "iforest_n_estimators": _("Isolation Forest trees"),
            "iforest_contamination": _("Isolation Forest contamination"),
            "dbscan_eps": _("DBSCAN eps"),
            "dbscan_min_samples": _("DBSCAN min samples"),
            "dbscan_max_train_rows": _("DBSCAN training sample (rows)"),
        }


class TimeZoneForm(forms.Form):
    """The time zone this browser session shows times in."""

    time_zone = forms.ChoiceField(label=_("Your time zone"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        zones = sorted(zoneinfo.available_timezones())
        self.fields["time_zone"].choices = [(zone, zone) for zone in zones]


class FeatureExplorerForm(forms.Form):
    """Choice of two features to plot against each other, and of the rows to plot."""

    entity_type = forms.ChoiceField(
        label=_("Entity"), choices=EntityType.choices, initial=EntityType.ACTIVITY
    )
    x = forms.CharField(label=_("Horizontal axis"), required=False)
    y = forms.CharField(label=_("Vertical axis"), required=False)
    detector = forms.ChoiceField(
        label=_("Highlight findings of"),
        required=False,
        choices=[("", _("Any detector")), *DETECTOR_CHOICES],
    )
    limit = forms.IntegerField(
        label=_("Rows"),
        required=False,
        initial=5000,
        min_value=100,
        max_value=50_000,
        help_text=_("Most recent rows to plot, 100 to 50,000."),
    )


def in_utc_range(value):
    """Return ``value`` in UTC, or raise a form error when UTC cannot hold it.

    A time near year 1 or year 9999 with a zone offset can fall outside the
    years Python's datetime holds once converted to UTC.
    """
    if value is None:
        return None
    try:
        return value.astimezone(datetime.UTC)
    except OverflowError:
        raise forms.ValidationError(
            _("Invalid time %(value)s: use a year from 2 to 9998.")
            % {"value": value.isoformat()}
        ) from None
