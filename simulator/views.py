"""Staff pages: start a simulation and watch its progress."""

import logging

from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from simulator.config import SimulationConfigError
from simulator.engine import missing_kinds
from simulator.forms import SimulationForm
from simulator.models import AnomalyKind, SimulationRun
from simulator.services import inline_limit, start_run

logger = logging.getLogger(__name__)
# Seconds between reloads of a run's page while it is queued or running.
REFRESH_SECONDS = 2


class StaffRequiredMixin(LoginRequiredMixin, UserPassesTestMixin):
    """Send anonymous users to the login page and answer 403 to non-staff."""

    raise_exception = False

    def test_func(self):
        return self.request.user.is_staff

    def handle_no_permission(self):
        if self.request.user.is_authenticated:
            self.raise_exception = True
        return super().handle_no_permission()


class SimulatorPageView(StaffRequiredMixin, View):
    template_name = "simulator/page.html"

    def get(self, request):
        return self._render(request, SimulationForm())

    def post(self, request):
        form = SimulationForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        try:
            run, _queued = start_run(form.config, request.user)
        except SimulationConfigError as exc:
            for field, message in exc.errors.items():
                form.add_error(field if field in form.fields else None, message)
            return self._render(request, form, status=400)
        return redirect("simulator:run", pk=run.pk)

    def _render(self, request, form, status=200):
        context = {
            "form": form,
            "runs": SimulationRun.objects.all()[:10],
            "inline_limit": inline_limit(),
        }
        return render(request, self.template_name, context, status=status)


def kind_label(kind):
    return AnomalyKind(kind).label if kind in AnomalyKind.values else kind


class RunPageView(StaffRequiredMixin, View):
    def get(self, request, pk):
        run = get_object_or_404(SimulationRun, pk=pk)
        active = run.status in (
            SimulationRun.Status.QUEUED,
            SimulationRun.Status.RUNNING,
        )
        context = {
            "run": run,
            "active": active,
            # The base template reloads the page while this is set.
            "refresh_seconds": REFRESH_SECONDS if active else None,
            "percent": round(run.progress * 100),
            "counts": run.result.get("counts", {}),
            "kinds": {
                kind_label(kind): entry
                for kind, entry in run.result.get("kinds", {}).items()
            },
            "missing_kinds": [
                kind_label(kind) for kind in missing_kinds(run.result.get("kinds", {}))
            ],
        }
        return render(request, "simulator/run.html", context)
