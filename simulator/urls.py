from django.urls import path

from simulator import views

app_name = "simulator"

urlpatterns = [
    path("", views.SimulatorPageView.as_view(), name="page"),
    path("runs/<int:pk>/", views.RunPageView.as_view(), name="run"),
]
