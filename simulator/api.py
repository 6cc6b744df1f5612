"""REST endpoints: generate a simulated shop and follow a run's progress."""

import logging

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from anomalens_site.permissions import IsStaff
from simulator.config import SimulationConfigError
from simulator.models import SimulationRun
from simulator.serializers import GenerateSerializer, SimulationRunSerializer
from simulator.services import start_run

logger = logging.getLogger(__name__)


class GenerateView(APIView):
    """Generate simulated store data with labelled anomalies.

    Small requests run inside the request and answer 201 with the counts.
    Larger ones go to the task queue and answer 202 with a Location header
    pointing at the run, whose ``progress`` goes from 0 to 1.
    """

    permission_classes = [IsStaff]
    serializer_class = GenerateSerializer

    @extend_schema(
        request=GenerateSerializer,
        responses={
            201: SimulationRunSerializer,
            202: SimulationRunSerializer,
            400: OpenApiResponse(description="Invalid settings, by field."),
        },
    )
    def post(self, request):
        serializer = GenerateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            run, queued = start_run(serializer.validated_data, request.user)
        except SimulationConfigError as exc:
            raise ValidationError(
                {field: [message] for field, message in exc.errors.items()}
            ) from None
        body = SimulationRunSerializer(run, context={"request": request}).data
        if queued:
            return Response(
                body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]}
            )
        counts = run.result.get("counts", {})
        body = {**body, **counts, "counts": counts}
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema_view(post=extend_schema(exclude=True))
class GenerateSlashView(GenerateView):
    """Accept ``generate/`` as well; the schema lists only ``generate``."""


class RunListView(generics.ListAPIView):
    """List simulation runs, newest first."""

    permission_classes = [IsStaff]
    serializer_class = SimulationRunSerializer
    queryset = SimulationRun.objects.all()


class RunDetailView(generics.RetrieveAPIView):
    """Show one simulation run: status, progress, result or error."""

    permission_classes = [IsStaff]
    serializer_class = SimulationRunSerializer
    queryset = SimulationRun.objects.all()
