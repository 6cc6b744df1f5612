from django.urls import path

from simulator import api

app_name = "simulator-api"


class GenerateAliasView(api.GenerateView):
    """The same generate endpoint, at the path with a trailing slash."""

    # Left out of the OpenAPI schema, which documents the canonical path.
    schema = None


urlpatterns = [
    path("generate", api.GenerateView.as_view(), name="generate"),
    path("generate/", GenerateAliasView.as_view()),
    path("runs/", api.RunListView.as_view(), name="run-list"),
    path("runs/<int:pk>/", api.RunDetailView.as_view(), name="run-detail"),
]
