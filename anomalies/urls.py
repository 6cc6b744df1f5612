"""HTML pages of AnomaLens, mounted at the site root."""

from django.urls import path

from . import views, views_clients

app_name = "anomalies"

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("findings/", views.FindingListView.as_view(), name="finding-list"),
    path("clients/", views_clients.ClientRankingView.as_view(), name="clients"),
    path(
        "findings/<int:pk>/", views.FindingDetailView.as_view(), name="finding-detail"
    ),
    path(
        "findings/<int:pk>/review/",
        views.FindingReviewView.as_view(),
        name="finding-review",
    ),
    path("runs/", views.RunListView.as_view(), name="run-list"),
    path("runs/new/", views.RunRequestView.as_view(), name="run-new"),
    path("runs/<int:pk>/", views.RunDetailView.as_view(), name="run-detail"),
    path("evaluation/", views.EvaluationView.as_view(), name="evaluation"),
    path("features/", views.FeatureExplorerView.as_view(), name="features"),
    path("settings/", views.SettingsView.as_view(), name="settings"),
]
