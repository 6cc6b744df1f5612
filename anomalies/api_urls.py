"""API routes of the anomalies app, mounted under /api/."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter(trailing_slash=True)
router.register("anomalies", api.FindingViewSet, basename="finding")
router.register("runs", api.RunViewSet, basename="run")
router.register("models", api.TrainedModelViewSet, basename="trained-model")

urlpatterns = [
    path("anomalies/train", api.TrainView.as_view(), name="anomalies-train"),
    path("anomalies/detect", api.DetectView.as_view(), name="anomalies-detect"),
    path("settings/", api.DetectorSettingsView.as_view(), name="detector-settings"),
    path("", include(router.urls)),
]
