from django.urls import path

from simulator import api

app_name = "simulator-api"


urlpatterns = [
    path("generate", api.GenerateView.as_view(), name="generate"),
    path("generate/", api.GenerateSlashView.as_view()),
    path("runs/", api.RunListView.as_view(), name="run-list"),
    path("runs/<int:pk>/", api.RunDetailView.as_view(), name="run-detail"),
]
