"""Staff pages: upload an access log or an order export, import it, show the summary."""

import logging
import zlib
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django_q.tasks import fetch

from activities import uploads

logger = logging.getLogger(__name__)

# Seconds between reloads of a job's page while it is queued or running.
REFRESH_SECONDS = 2
PRESETS = [
    ("olist", _("Olist (orders, order items, payments and customers files)")),
    ("uci", _("UCI Online Retail")),
    ("generic", _("Generic (name the columns below)")),
]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file field that accepts several files and cleans to a list."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [
                super(MultipleFileField, self).clean(item, initial) for item in data
            ]
        return [super().clean(data, initial)]


class ImportForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Data"),
        choices=[
            (uploads.ACCESS_LOG, _("Web-server access log (plain or .gz)")),
            (uploads.ORDERS, _("Order export (CSV)")),
        ],
    )
    files = MultipleFileField(label=_("Files"))
    preset = forms.ChoiceField(label=_("Order preset"), choices=PRESETS, required=False)
    mapping = forms.CharField(
        label=_("Column mapping"),
        required=False,
        help_text=_(
            "Generic preset only: field=column pairs, e.g. order_id=Order,"
            "created_at=Date,product=SKU,quantity=Qty,unit_price=Price."
        ),
    )
    time_zone = forms.CharField(
        label=_("Time zone"),
        required=False,
        help_text=_(
            "IANA zone of times written without an offset. Default: UTC for logs, "
            "the preset's zone for orders."
        ),
    )

    def clean_time_zone(self):
        import zoneinfo

        value = self.cleaned_data["time_zone"].strip()
        if value:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
                raise forms.ValidationError(
                    _("Invalid time zone %(value)r: use an IANA name such as UTC."),
                    params={"value": value},
                ) from exc
        return value

    def clean(self):
        data = super().clean()
        if data.get("kind") != uploads.ORDERS:
            return data
        if not data.get("preset"):
            self.add_error("preset", _("Choose the preset of the order export."))
        mapping = (data.get("mapping") or "").strip()
        if data.get("preset") == "generic":
            # The command line also accepts a JSON file path here; the page
            # accepts only pairs, so no server path is ever read.
            if "=" not in mapping or Path(mapping).exists():
                self.add_error(
                    "mapping",
                    _(
                        "Invalid mapping %(value)r: write field=column pairs "
                        "separated by commas."
                    )
                    % {"value": mapping},
                )
        return data

    def options(self):
        data = self.cleaned_data
        return {
            "preset": data.get("preset") or None,
            "mapping": (data.get("mapping") or "").strip(),
            "time_zone": data.get("time_zone") or "",
        }


class SizeLimitUploadHandler(FileUploadHandler):
    """Stop reading a request body once its files pass ``limit`` bytes.

    Put first in the request's handlers, it keeps an oversized upload off the
    disk and out of memory instead of saving it and rejecting it afterwards.
    """

    def __init__(self, request, limit):
        super().__init__(request)
        self.limit = limit
        self.received = 0
        request.upload_too_large = False

    def handle_raw_input(
        self, input_data, META, content_length, boundary, encoding=None
    ):
        # The body contains the files plus a few form fields and boundaries.
        if content_length and content_length > self.limit + 1024 * 1024:
            self.request.upload_too_large = True
            raise StopUpload(connection_reset=False)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.request.upload_too_large = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None


class StaffRequiredMixin(LoginRequiredMixin, UserPassesTestMixin):
    """Redirect anonymous users to the login page and return 403 to non-staff."""

    def test_func(self):
        return self.request.user.is_staff

    def handle_no_permission(self):
        if self.request.user.is_authenticated:
            self.raise_exception = True
        return super().handle_no_permission()


@method_decorator(csrf_exempt, name="dispatch")
class ImportPageView(StaffRequiredMixin, View):
    """Show the upload form and recent jobs, and import what a staff user uploads."""

    template_name = "activities/import_page.html"

    def get(self, request):
        return self.render_form(request, ImportForm())

    def post(self, request):
        # The size handler must be in place before anything reads the body,
        # which is why CSRF is checked here instead of in the middleware.
        request.upload_handlers.insert(
            0, SizeLimitUploadHandler(request, settings.MAX_UPLOAD_BYTES)
        )
        return self.checked_post(request)

    @method_decorator(csrf_protect)
    def checked_post(self, request):
        form = ImportForm(request.POST, request.FILES)
        if getattr(request, "upload_too_large", False):
            form.is_valid()
            form.add_error(
                "files",
                _(
                    "The upload exceeds the limit of %(limit)s: split the file or "
                    "ask an administrator to raise ANOMALENS_MAX_UPLOAD_MB."
                )
                % {"limit": uploads.format_limit(settings.MAX_UPLOAD_BYTES)},
            )
            return self.render_form(request, form, status=400)
        if not form.is_valid():
            return self.render_form(request, form, status=400)

        data = form.cleaned_data
        try:
            job_id, stored = uploads.create_job(
                data["kind"], data["files"], form.options(), request.user
            )
        except uploads.UploadTooLarge as exc:
            form.add_error("files", str(exc))
            return self.render_form(request, form, status=400)
        except (OSError, EOFError, zlib.error) as exc:
            logger.warning("Rejected upload by user %s: %s", request.user.pk, exc)
            form.add_error(
                "files",
                _("Cannot read the upload (%(error)s): check that the file is intact.")
                % {"error": exc},
            )
            return self.render_form(request, form, status=400)
        logger.info(
            "User %s uploaded %s bytes as import job %s",
            request.user.pk,
            stored,
            job_id,
        )
        try:
            uploads.start_job(job_id, stored)
        except Exception as exc:
            # run_job has recorded the error in the job, which the job page shows.
            logger.warning("Import job %s failed inline: %s", job_id, exc)
        return redirect("imports:job", job_id=job_id)

    def render_form(self, request, form, status=200):
        context = {
            "form": form,
            "jobs": uploads.recent_jobs(),
            "limit": uploads.format_limit(settings.MAX_UPLOAD_BYTES),
            "inline_limit": uploads.format_limit(uploads.inline_limit()),
        }
        return render(request, self.template_name, context, status=status)


class ImportJobView(StaffRequiredMixin, View):
    """Show a job's status while it runs and its summary when it is done."""

    def get(self, request, job_id):
        try:
            job = uploads.read_job(job_id)
        except uploads.JobNotFound as exc:
            raise Http404(str(exc)) from exc
        active = job["status"] in ("queued", "running")
        if active:
            # A task that crashed or timed out never wrote its outcome.
            task = fetch(uploads.task_name(job_id))
            if task is not None and not task.success:
                job.update(status="failed", error=str(task.result))
                active = False
        context = {
            "job": job,
            "active": active,
            "refresh_seconds": REFRESH_SECONDS if active else None,
        }
        return render(request, "activities/import_job.html", context)
