"""REST API of findings, runs, trained models, detector settings and run requests."""

import logging

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from anomalens_site.permissions import IsStaff, IsStaffOrReadOnly

from . import services, storage
from .filters import FindingFilter, RunFilter
from .models import DetectorSettings, Finding, Run, TrainedModel
from .serializers import (
    DetectorSettingsSerializer,
    FindingDetailSerializer,
    FindingSerializer,
    ReviewSerializer,
    RunRequestSerializer,
    RunSerializer,
    RunStartedSerializer,
    TrainedModelSerializer,
)

logger = logging.getLogger(__name__)


class CanReviewFindings(permissions.BasePermission):
    """Let logged-in users read; staff or holders of change_finding may review."""

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(user.is_staff or user.has_perm("anomalies.change_finding"))


class FindingViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """List and read findings; PATCH sets the review status."""

    queryset = Finding.objects.all()
    permission_classes = [CanReviewFindings]
    filterset_class = FindingFilter
    ordering_fields = ["score", "entity_time", "created_at", "id"]
    http_method_names = ["get", "patch", "head", "options"]

    def get_serializer_class(self):
        if self.action == "retrieve":
            return FindingDetailSerializer
        if self.action in ("update", "partial_update"):
            return ReviewSerializer
        return FindingSerializer

    def perform_update(self, serializer):
        serializer.save(reviewed_by=self.request.user, reviewed_at=timezone.now())

    def update(self, request, *args, **kwargs):
        kwargs["partial"] = True
        super().update(request, *args, **kwargs)
        return Response(FindingDetailSerializer(self.get_object()).data)


class RunViewSet(viewsets.ReadOnlyModelViewSet):
    """Training and detection runs, newest first."""

    queryset = Run.objects.all()
    serializer_class = RunSerializer
    permission_classes = [IsStaffOrReadOnly]
    filterset_class = RunFilter
    ordering_fields = ["created_at", "id", "status"]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Reading the list or one run marks runs of killed workers failed, so a
        # client that polls one run gets its final status.
        services.fail_stale_runs()


class TrainedModelViewSet(viewsets.ReadOnlyModelViewSet):
    """Saved model versions; POST activate switches a detector back to a version."""

    queryset = TrainedModel.objects.all()
    serializer_class = TrainedModelSerializer
    permission_classes = [IsStaffOrReadOnly]
    filterset_fields = ["detector", "entity_type", "is_active"]

    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        record = self.get_object()
        try:
            storage.check_model(record)
        except storage.ModelLoadError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        storage.activate_model(record)
        logger.info("User %s activated model %s", request.user.pk, record)
        return Response(TrainedModelSerializer(record).data)


class _RunRequestView(APIView):
    permission_classes = [IsStaff]
    kind = ""

    def _start(self, request, background):
        body = RunRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        background = body.validated_data.get("background", background)
        runs = services.start_runs(
            self.kind,
            body.entity_types(),
            detectors=body.validated_data.get("algorithms"),
            parameters=body.validated_data["parameters"],
            user=request.user,
            background=background,
        )
        return runs, background


class TrainView(_RunRequestView):
    """POST: queue training runs; answers 202 with their ids."""

    kind = Run.Kind.TRAIN

    @extend_schema(
        request=RunRequestSerializer,
        responses={200: RunStartedSerializer, 202: RunStartedSerializer},
    )
    def post(self, request):
        runs, background = self._start(request, background=True)
        if not background:
            return _inline_response(runs, "Training finished.")
        return Response(
            {
                "message": _queued_message(runs, "training"),
                "run_ids": [run.pk for run in runs],
            },
            status=status.HTTP_202_ACCEPTED,
        )


def _queued_message(runs, kind):
    """Return "Queued N <kind> run(s)." with the noun agreeing with N."""
    noun = "run" if len(runs) == 1 else "runs"
    return f"Queued {len(runs)} {kind} {noun}."


class DetectView(_RunRequestView):
    """POST: run detection now, or queue it with "background": true."""

    kind = Run.Kind.DETECT

    @extend_schema(
        request=RunRequestSerializer,
        responses={200: RunStartedSerializer, 202: RunStartedSerializer},
    )
    def post(self, request):
        runs, background = self._start(request, background=False)
        if background:
            return Response(
                {
                    "message": _queued_message(runs, "detection"),
                    "run_ids": [run.pk for run in runs],
                },
                status=status.HTTP_202_ACCEPTED,
            )
        return _inline_response(runs, "Detection finished.")


def _inline_response(runs, message):
    saved = {}
    for run in runs:
        saved[run.detector] = saved.get(run.detector, 0) + run.anomalies_found
    failed = [run for run in runs if run.status == Run.Status.FAILED]
    body = {
        "message": message,
        "anomalies_saved_by_algorithm": saved,
        "run_ids": [run.pk for run in runs],
        "runs": RunSerializer(runs, many=True).data,
    }
    if failed:
        body["message"] = f"{len(failed)} of {len(runs)} runs failed."
        body["errors"] = {f"run {run.pk}": run.error for run in failed}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    return Response(body)


class DetectorSettingsView(APIView):
    """GET or PUT the detector defaults (PUT may send only the fields to change)."""

    permission_classes = [IsStaffOrReadOnly]
    serializer_class = DetectorSettingsSerializer

    def get(self, request):
        return Response(DetectorSettingsSerializer(DetectorSettings.load()).data)

    def put(self, request):
        serializer = DetectorSettingsSerializer(
            DetectorSettings.load(), data=request.data, partial=True
        )
        serializer.is_valid(raise_exception=True)
        serializer.save()
        logger.info("User %s changed detector settings", request.user.pk)
        return Response(serializer.data)

    patch = put
