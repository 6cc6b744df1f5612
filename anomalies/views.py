"""HTML pages: dashboard, findings, runs, train-and-detect, evaluation, features, settings.

Every page requires a login. Pages that change data (reviews, run requests,
detector settings) accept a POST only from staff or from users with the
matching model permission, and show no form to anyone else.
"""

import logging
import zoneinfo
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, F, Max, Q
from django.db.models.functions import Coalesce, TruncHour
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import DetailView, ListView, TemplateView

from activities.models import UserActivity
from simulator.models import AnomalyKind, AnomalyLabel
from store.models import Customer, EntityType, Order, Product

from . import charts, describe, services
from .features import load_features
from .forms import (
    TRAIN_THEN_DETECT,
    DetectorSettingsForm,
    FeatureExplorerForm,
    FindingFilterForm,
    ReviewForm,
    RunRequestForm,
    TimeZoneForm,
)
from .models import DetectorSettings, Finding, Run, Severity

logger = logging.getLogger(__name__)

# Seconds between reloads of a page that shows a queued or running run.
REFRESH_SECONDS = 3
SESSION_TIME_ZONE = "anomalens_time_zone"
FINDINGS_PER_PAGE = 50
RUNS_PER_PAGE = 25


def can_review(user):
    return user.is_staff or user.has_perm("anomalies.change_finding")


def can_edit_settings(user):
    return user.is_staff or user.has_perm("anomalies.change_detectorsettings")


class PageMixin(LoginRequiredMixin):
    """Require a login and show times in the zone the user picked, if any."""

    def dispatch(self, request, *args, **kwargs):
        zone = (
            request.session.get(SESSION_TIME_ZONE)
            if hasattr(request, "session")
            else None
        )
        if zone:
            try:
                timezone.activate(zoneinfo.ZoneInfo(zone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                request.session.pop(SESSION_TIME_ZONE, None)
        try:
            response = super().dispatch(request, *args, **kwargs)
            # Render inside the activated zone: a TemplateResponse would
            # otherwise render after the zone is reset below.
            if hasattr(response, "render") and callable(response.render):
                response.render()
            return response
        finally:
            timezone.deactivate()


def findings_time():
    """Return the time a finding is filed under: its row's time, else when it was found."""
    return Coalesce("entity_time", "created_at")


class DashboardView(PageMixin, TemplateView):
    template_name = "anomalies/dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["counts"] = [
            (
                _("Customers"),
                Customer.objects.count(),
                "admin:store_customer_changelist",
            ),
            (_("Products"), Product.objects.count(), "admin:store_product_changelist"),
            (_("Orders"), Order.objects.count(), "admin:store_order_changelist"),
            (
                _("Activity events"),
                UserActivity.objects.count(),
                "admin:activities_useractivity_changelist",
            ),
        ]
        context["findings_total"] = Finding.objects.count()
        context["severity_table"] = self.severity_table()
        context["activity_chart"] = self.activity_chart()
        context["latest_runs"] = list(Run.objects.select_related("requested_by")[:8])
        high = Finding.objects.filter(severity=Severity.HIGH).order_by(
            "-created_at", "-id"
        )
        context["high_findings"] = describe.attach_entities(high[:10])
        return context

    def severity_table(self):
        """Count findings per detector and severity over the last day and week."""
        day_start, week_start = describe.window_bounds()
        rows = (
            Finding.objects.annotate(at=findings_time())
            .filter(at__gte=week_start)
            .values("detector", "severity")
            .annotate(week=Count("id"), day=Count("id", filter=Q(at__gte=day_start)))
        )
        table = {}
        for row in rows:
            counts = table.setdefault(
                row["detector"],
                {
                    period: dict.fromkeys(Severity.values, 0)
                    for period in ("day", "week")
                },
            )
            counts["day"][row["severity"]] = row["day"]
            counts["week"][row["severity"]] = row["week"]
        return [
            {
                "detector": detector,
                "day": [counts["day"][level] for level in Severity.values],
                "week": [counts["week"][level] for level in Severity.values],
            }
            for detector, counts in sorted(table.items())
        ]

    def activity_chart(self):
        """Return the SVG of events per hour over the week up to the newest event."""
        latest = UserActivity.objects.aggregate(
            last_id=Max("id"), last_time=Max("timestamp"), rows=Count("id")
        )
        if not latest["rows"]:
            return None
        newest_finding = Finding.objects.aggregate(last_id=Max("id"), rows=Count("id"))
        zone = timezone.get_current_timezone_name()
        key = ("activity", latest, newest_finding, zone)
        end = latest["last_time"]
        start = end - timedelta(days=7)

        def build():
            hourly = (
                UserActivity.objects.filter(timestamp__gte=start)
                .annotate(hour=TruncHour("timestamp"))
                .values("hour")
                .annotate(n=Count("id"))
                .order_by("hour")
            )
            flagged = (
                Finding.objects.filter(entity_time__gte=start, entity_time__lte=end)
                .annotate(hour=TruncHour("entity_time"))
                .values("hour")
                .annotate(n=Count("id"))
                .order_by("hour")
            )
            hours = [row["hour"] for row in hourly]
            events = [row["n"] for row in hourly]
            return charts.activity_figure(
                hours,
                events,
                [row["hour"] for row in flagged],
                [row["n"] for row in flagged],
            )

        return charts.cached_svg(key, build)


class FindingListView(PageMixin, ListView):
    template_name = "anomalies/finding_list.html"
    context_object_name = "findings"
    paginate_by = FINDINGS_PER_PAGE

    SORTS = {
        "-score": [F("score").desc(), F("id").desc()],
        "score": [F("score").asc(), F("id").asc()],
        "-time": [F("at").desc(nulls_last=True), F("id").desc()],
        "time": [F("at").asc(nulls_last=True), F("id").asc()],
    }

    def get_form(self):
        detectors = (
            Finding.objects.order_by().values_list("detector", flat=True).distinct()
        )
        return FindingFilterForm(self.request.GET or None, detectors=list(detectors))

    def get_queryset(self):
        self.form = self.get_form()
        findings = Finding.objects.select_related("run", "reviewed_by").annotate(
            at=findings_time()
        )
        sort = "-score"
        if self.form.is_bound and self.form.is_valid():
            data = self.form.cleaned_data
            for field in ("detector", "entity_type", "severity", "review_status"):
                if data[field]:
                    findings = findings.filter(**{field: data[field]})
            if data["since"]:
                findings = findings.filter(at__gte=data["since"])
            if data["until"]:
                findings = findings.filter(at__lte=data["until"])
            if data["run"]:
                findings = findings.filter(run_id=data["run"])
            if data["ip"]:
                events = UserActivity.objects.filter(ip_address=data["ip"]).values("id")
                findings = findings.filter(
                    entity_type=EntityType.ACTIVITY, entity_id__in=events
                )
            sort = data["sort"] or sort
        elif self.form.is_bound:
            return Finding.objects.none()
        return findings.order_by(*self.SORTS[sort])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        describe.attach_entities(context["findings"])
        context["form"] = self.form
        context["filtered"] = self.form.is_bound
        context["can_review"] = can_review(self.request.user)
        context["any_findings"] = (
            context["paginator"].count > 0 or Finding.objects.exists()
        )
        query = self.request.GET.copy()
        query.pop("page", None)
        context["query"] = query.urlencode()
        return context


class FindingDetailView(PageMixin, DetailView):
    template_name = "anomalies/finding_detail.html"
    context_object_name = "finding"
    queryset = Finding.objects.select_related("run", "reviewed_by")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        finding = self.object
        context["explanation"] = explanation_rows(finding.explanation)
        context["label"] = AnomalyLabel.objects.filter(
            entity_type=finding.entity_type, entity_id=finding.entity_id
        ).first()
        context["other_findings"] = (
            Finding.objects.filter(
                entity_type=finding.entity_type, entity_id=finding.entity_id
            )
            .exclude(pk=finding.pk)
            .select_related("run")
            .order_by("-created_at", "-id")[:20]
        )
        context["can_review"] = can_review(self.request.user)
        context["review_choices"] = Finding.ReviewStatus
        context["description"] = describe.attach_entities([finding])[0].description
        if finding.entity_type == EntityType.ACTIVITY:
            event = (
                UserActivity.objects.select_related("customer")
                .filter(pk=finding.entity_id)
                .first()
            )
            context["event"] = event
            if event is not None:
                context["details"] = sorted((event.details or {}).items())
                context["ip_events"] = describe.events_around(event, "ip_address")
                context["session_events"] = describe.events_around(event, "session_id")
        else:
            order = (
                Order.objects.select_related("customer")
                .filter(pk=finding.entity_id)
                .first()
            )
            context["order"] = order
            if order is not None:
                context["order_summary"] = describe.order_summary(order)
                context["earlier_orders"] = describe.earlier_orders(order)
        return context


def explanation_rows(explanation):
    """Return explanation entries with an outside-range flag and a bar width in percent."""
    rows = [dict(entry) for entry in explanation or [] if isinstance(entry, dict)]
    weights = [abs(row.get("contribution") or 0) for row in rows]
    largest = max(weights, default=0) or 1
    for row, weight in zip(rows, weights, strict=True):
        value, low, high = (
            row.get("value"),
            row.get("typical_low"),
            row.get("typical_high"),
        )
        row["outside"] = isinstance(value, int | float) and (
            (isinstance(low, int | float) and value < low)
            or (isinstance(high, int | float) and value > high)
        )
        row["bar"] = round(100 * weight / largest)
    return rows


class FindingReviewView(PageMixin, View):
    """Record a finding's review status, who set it and when."""

    http_method_names = ["post"]

    def post(self, request, pk):
        if not can_review(request.user):
            raise PermissionDenied(_("Only staff may review findings."))
        finding = get_object_or_404(Finding, pk=pk)
        form = ReviewForm(request.POST)
        if not form.is_valid():
            logger.warning(
                "Rejected review of finding %s by user %s: invalid status %r",
                finding.pk,
                request.user.pk,
                request.POST.get("review_status", ""),
            )
            messages.error(
                request,
                _("Invalid review status %(value)r: choose one of %(choices)s.")
                % {
                    "value": request.POST.get("review_status", ""),
                    "choices": ", ".join(Finding.ReviewStatus.values),
                },
            )
        else:
            status = form.cleaned_data["review_status"]
            Finding.objects.filter(pk=finding.pk).update(
                review_status=status,
                reviewed_by=request.user,
                reviewed_at=timezone.now(),
            )
            logger.info(
                "User %s set finding %s to %s", request.user.pk, finding.pk, status
            )
            messages.success(
                request,
                _("Finding #%(id)s marked “%(status)s”.")
                % {"id": finding.pk, "status": Finding.ReviewStatus(status).label},
            )
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target,
            allowed_hosts={request.get_host()},
            require_https=request.is_secure(),
        ):
            target = reverse("anomalies:finding-detail", args=[finding.pk])
        return HttpResponseRedirect(target)


class RunListView(PageMixin, ListView):
    template_name = "anomalies/run_list.html"
    context_object_name = "runs"
    paginate_by = RUNS_PER_PAGE

    def get_queryset(self):
        # Opening the runs pages ends runs whose worker was killed.
        services.fail_stale_runs()
        runs = Run.objects.select_related("requested_by")
        ids = [
            part
            for part in self.request.GET.get("ids", "").split(",")
            if part.isdigit()
        ]
        if ids:
            runs = runs.filter(pk__in=ids)
        kind = self.request.GET.get("kind")
        if kind in Run.Kind.values:
            runs = runs.filter(kind=kind)
        status = self.request.GET.get("status")
        if status in Run.Status.values:
            runs = runs.filter(status=status)
        self.active = runs.filter(
            status__in=[Run.Status.QUEUED, Run.Status.RUNNING]
        ).exists()
        return runs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["refresh_seconds"] = REFRESH_SECONDS if self.active else None
        context["can_start"] = self.request.user.is_staff
        context["kinds"] = Run.Kind.choices
        context["statuses"] = Run.Status.choices
        query = self.request.GET.copy()
        query.pop("page", None)
        context["query"] = query.urlencode()
        return context


class RunDetailView(PageMixin, DetailView):
    template_name = "anomalies/run_detail.html"
    context_object_name = "run"
    queryset = Run.objects.select_related("requested_by", "trained_model")

    def get_object(self, queryset=None):
        services.fail_stale_runs()
        return super().get_object(queryset)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        run = self.object
        active = run.status in (Run.Status.QUEUED, Run.Status.RUNNING)
        context["refresh_seconds"] = REFRESH_SECONDS if active else None
        context["progress_percent"] = round(100 * min(max(run.progress, 0.0), 1.0))
        severity_counts = dict(
            run.findings.order_by().values_list("severity").annotate(n=Count("id"))
        )
        context["severity_counts"] = [
            (level, label, severity_counts.get(level, 0))
            for level, label in Severity.choices
        ]
        if run.metrics:
            context["evaluation"] = evaluation_entry(run)
        return context


def evaluation_entry(run):
    """Return a run's metrics in a template-friendly shape, with its histogram chart."""
    metrics = run.metrics or {}
    kinds = metrics.get("per_kind") or {}
    per_kind = [
        {
            "kind": kind,
            "label": AnomalyKind(kind).label if kind in AnomalyKind.values else kind,
            **values,
        }
        for kind, values in sorted(kinds.items())
    ]
    histogram = metrics.get("score_histogram") or {}
    key = ("histogram", run.pk, run.finished_at, timezone.get_current_timezone_name())
    title = f"{run.detector} · {EntityType(run.entity_type).label}"
    return {
        "run": run,
        "overall": metrics.get("overall") or {},
        "labelled_rows": metrics.get("labelled_rows"),
        "positives": metrics.get("positives"),
        "per_kind": per_kind,
        "histogram_svg": charts.cached_svg(
            key, lambda: charts.score_histogram_figure(histogram, title)
        ),
    }


class RunRequestView(PageMixin, TemplateView):
    """Queue training or detection runs at a staff user's request."""

    template_name = "anomalies/run_new.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if self.request.user.is_staff and "form" not in context:
            initial = RunRequestForm.initial_from_settings(DetectorSettings.load())
            context["form"] = RunRequestForm(initial=initial)
        context["active_models"] = _active_models()
        return context

    def post(self, request):
        if not request.user.is_staff:
            raise PermissionDenied(_("Only staff may start training or detection."))
        form = RunRequestForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form))
        data = form.cleaned_data
        try:
            if data["kind"] == TRAIN_THEN_DETECT:
                runs = services.start_training_then_detection(
                    data["entity_types"],
                    detectors=data["detectors"],
                    parameters=form.parameters(),
                    user=request.user,
                )
            else:
                runs = services.start_runs(
                    data["kind"],
                    data["entity_types"],
                    detectors=data["detectors"],
                    parameters=form.parameters(),
                    user=request.user,
                    background=True,
                )
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error(None, message)
            return self.render_to_response(self.get_context_data(form=form))
        messages.success(
            request,
            _("Queued %(count)s runs.") % {"count": len(runs)}
            if len(runs) != 1
            else _("Queued 1 run."),
        )
        if len(runs) == 1:
            return redirect("anomalies:run-detail", pk=runs[0].pk)
        ids = ",".join(str(run.pk) for run in runs)
        return HttpResponseRedirect(f"{reverse('anomalies:run-list')}?ids={ids}")


def _active_models():
    from .models import TrainedModel

    return list(
        TrainedModel.objects.filter(is_active=True)
        .order_by("entity_type", "detector")
        .values("detector", "entity_type", "training_rows", "created_at", "id")
    )


class EvaluationView(PageMixin, TemplateView):
    """Metrics of the newest evaluated detection run per detector and entity."""

    template_name = "anomalies/evaluation.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        evaluated = Run.objects.filter(
            kind=Run.Kind.DETECT, status=Run.Status.SUCCEEDED
        ).exclude(metrics={})
        newest_ids = (
            evaluated.order_by()
            .values("detector", "entity_type")
            .annotate(newest=Max("id"))
            .values_list("newest", flat=True)
        )
        runs = list(
            Run.objects.filter(pk__in=list(newest_ids)).order_by(
                "entity_type", "detector"
            )
        )
        sections = []
        for entity_type, label in EntityType.choices:
            entity_runs = [run for run in runs if run.entity_type == entity_type]
            if not entity_runs:
                continue
            entries = [evaluation_entry(run) for run in entity_runs]
            kinds = sorted(
                {row["kind"] for entry in entries for row in entry["per_kind"]}
            )
            kind_rows = []
            for kind in kinds:
                cells = []
                for entry in entries:
                    match = next(
                        (row for row in entry["per_kind"] if row["kind"] == kind), {}
                    )
                    cells.append(match)
                kind_rows.append(
                    {
                        "kind": kind,
                        "label": AnomalyKind(kind).label
                        if kind in AnomalyKind.values
                        else kind,
                        "cells": cells,
                    }
                )
            curves = [
                (
                    run.detector,
                    (run.metrics.get("pr_curve") or {}).get("precision") or [],
                    (run.metrics.get("pr_curve") or {}).get("recall") or [],
                )
                for run in entity_runs
            ]
            key = ("pr", [(run.pk, run.finished_at) for run in entity_runs])
            sections.append(
                {
                    "entity_type": entity_type,
                    "label": label,
                    "entries": entries,
                    "kind_rows": kind_rows,
                    "pr_svg": charts.cached_svg(
                        key, lambda c=curves: charts.pr_curve_figure(c)
                    ),
                }
            )
        context["sections"] = sections
        context["labels_exist"] = AnomalyLabel.objects.exists()
        return context


class FeatureExplorerView(PageMixin, TemplateView):
    """Scatter two features of recent rows, with flagged rows highlighted."""

    template_name = "anomalies/features.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = FeatureExplorerForm(
            self.request.GET or {"entity_type": EntityType.ACTIVITY}
        )
        context["form"] = form
        if not form.is_valid():
            return context
        data = form.cleaned_data
        limit = data["limit"] or 5000
        frame, _times = load_features(data["entity_type"], limit=limit)
        numeric = frame.select_dtypes("number")
        columns = list(numeric.columns)
        context["columns"] = columns
        context["rows"] = len(numeric)
        if numeric.empty or len(columns) < 2:
            context["too_few"] = True
            return context

        x = data["x"] or columns[0]
        y = data["y"] or columns[1]
        for field, name in (("x", x), ("y", y)):
            if name not in columns:
                form.add_error(
                    field,
                    _(
                        "Unknown feature %(name)r for %(entity)s: choose one of the list."
                    )
                    % {"name": name, "entity": data["entity_type"]},
                )
        if form.errors:
            return context

        context["x"], context["y"] = x, y
        flagged_query = Finding.objects.filter(entity_type=data["entity_type"])
        if data["detector"]:
            flagged_query = flagged_query.filter(detector=data["detector"])
        flagged_ids = set(
            flagged_query.filter(entity_id__in=list(numeric.index))
            .values_list("entity_id", flat=True)
            .distinct()
        )
        mask = numeric.index.isin(list(flagged_ids))
        context["flagged"] = int(mask.sum())

        newest = Finding.objects.aggregate(last=Max("id"), rows=Count("id"))
        key = (
            "scatter",
            data["entity_type"],
            x,
            y,
            limit,
            data["detector"],
            tuple(numeric.index[:1]),
            tuple(numeric.index[-1:]),
            len(numeric),
            newest,
        )
        context["scatter_svg"] = charts.cached_svg(
            key,
            lambda: charts.scatter_figure(numeric[x], numeric[y], mask, x, y),
        )
        return context


class SettingsView(PageMixin, TemplateView):
    """Show the detector defaults to everyone and let staff change them.

    Any user may pick the time zone of their own session here.
    """

    template_name = "anomalies/settings.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        detector_settings = DetectorSettings.load()
        context["detector_settings"] = detector_settings
        context["can_edit"] = can_edit_settings(self.request.user)
        if context["can_edit"] and "form" not in context:
            context["form"] = DetectorSettingsForm(instance=detector_settings)
        context["rows"] = [
            (field.label, getattr(detector_settings, name), field.help_text)
            for name, field in DetectorSettingsForm.base_fields.items()
        ]
        if "tz_form" not in context:
            context["tz_form"] = TimeZoneForm(
                initial={"time_zone": timezone.get_current_timezone_name()}
            )
        return context

    def post(self, request):
        if "time_zone" in request.POST:
            tz_form = TimeZoneForm(request.POST)
            if tz_form.is_valid():
                request.session[SESSION_TIME_ZONE] = tz_form.cleaned_data["time_zone"]
                messages.success(
                    request,
                    _("Times are now shown in %(zone)s.")
                    % {"zone": tz_form.cleaned_data["time_zone"]},
                )
                return redirect("anomalies:settings")
            return self.render_to_response(self.get_context_data(tz_form=tz_form))
        if not can_edit_settings(request.user):
            raise PermissionDenied(_("Only staff may change the detector settings."))
        form = DetectorSettingsForm(request.POST, instance=DetectorSettings.load())
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form))
        form.save()
        logger.info("User %s changed the detector settings", request.user.pk)
        messages.success(request, _("Detector settings saved."))
        return redirect("anomalies:settings")
